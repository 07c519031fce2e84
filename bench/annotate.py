"""``gazevos annotate`` end to end on the real bleach-naruto Pupil Core recording.

    python bench/annotate.py [--shared ../shared] [--tracker flow] [--out /tmp/bn]

Marks the two words with boxes on frame 0 (the boxes below were read off frame 0), runs the
whole pipeline with no correction (with the overlay video), then the gaze stages again on
the same masks with the offset and offset-scale corrections, and prints per word: dwell
time, visits and fixations, plus the tracking speed and the time of each stage.

It also scores the tracked masks against a fixed image rule that finds the dark letters of
each word on the bright screen (``bench/gaze_mapping.py:word_labels``, closed into word
blobs): per frame, *coverage* = share of the word's dark letter pixels inside the tracked
mask, *precision* = share of the tracked mask inside the word's blob.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from gazevos.gaze.annotate import AnnotateConfig, annotate  # noqa: E402
from gazevos.gaze.prompts import build_prompts  # noqa: E402
from gazevos.io import open_frames, read_mask  # noqa: E402

BOXES = ("bleach:230,65,545,170@0", "naruto:865,415,1150,500@0")


def mask_scores(video: Path, masks: Path) -> dict[int, np.ndarray]:
    """Per word id: ``(F, 2)`` coverage of its letters and precision against its blob."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gaze_mapping import word_labels  # noqa: PLC0415

    out: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for frame in open_frames(video):
        blobs = word_labels(frame.image)
        dark = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY) < 90
        tracked = read_mask(masks / f"{frame.index:05d}.png")
        for oid in (1, 2):
            letters = (blobs == oid) & dark
            m = tracked == oid
            cov = (m & letters).sum() / max(letters.sum(), 1)
            prec = (m & (blobs == oid)).sum() / max(m.sum(), 1)
            out[oid].append((float(cov), float(prec)))
    return {k: np.asarray(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--tracker", default=None, help="tracker name (default: the default)")
    ap.add_argument("--out", default="/tmp/gazevos-bench-annotate")
    args = ap.parse_args()
    root = Path(args.shared) / "data" / "pupil-core" / "bleach-naruto"
    if not root.is_dir():
        raise SystemExit(f"no bleach-naruto sample at {root}")
    prompts = build_prompts(boxes=list(BOXES))
    kw = {} if args.tracker is None else {"tracker": args.tracker}
    for k, corr in enumerate(("none", "offset", "offset-scale")):
        out = Path(args.out) / corr
        if k:  # same masks: copy them and resume, so only the gaze stages run again
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(Path(args.out) / "none" / "masks", out / "masks")
            shutil.copy(Path(args.out) / "none" / "tracking.json", out)
        t = time.perf_counter()
        cpu = time.process_time()
        res = annotate(root, prompts, out, config=AnnotateConfig(
            correct_calibration=corr, video=k == 0), force=k == 0, resume=k > 0,
            progress=False, **kw)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        stages = ", ".join(f"{s} {v:.1f} s" for s, v in res.timings.items())
        print(f"\n== correction {corr}: {res.n_frames} frames, tracking {res.track_fps:.1f} "
              f"frames/s{' (masks reused)' if res.tracking_resumed else ''}; wall {wall:.1f} s "
              f"(process CPU {cpu:.1f} s; {stages})")
        if res.correction is not None:
            c = res.correction
            print(f"   fitted {c.model}: dx {c.dx:+.1f} px, dy {c.dy:+.1f} px, scale "
                  f"{c.sx:.2f} x {c.sy:.2f}; distance to word {c.mean_dist_before_deg:.2f} -> "
                  f"{c.mean_dist_after_deg:.2f} deg")
        m = res.metrics.set_index("object")
        for word in ("bleach", "naruto"):
            r = m.loc[word]
            print(f"   {word:7s} dwell {r['dwell_time']:.3f} s, visits {int(r['n_visits'])}, "
                  f"fixations {int(r['n_fixations'])} ({r['total_fixation_duration']:.3f} s)")
        if k == 0:
            scores = mask_scores(root / "exports/000/world.mp4", res.out_dir / "masks")
            for oid, word in ((1, "bleach"), (2, "naruto")):
                s = scores[oid]
                marks = ", ".join(f"frame {f}: {s[f, 0]:.2f}/{s[f, 1]:.2f}"
                                  for f in (0, len(s) // 2, len(s) - 1))
                print(f"   {word} mask coverage/precision: mean {s[:, 0].mean():.2f}/"
                      f"{s[:, 1].mean():.2f}; {marks}")


if __name__ == "__main__":
    main()
