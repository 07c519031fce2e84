"""Adaptive carrying (``skip_agreement``, ``skip_max``): what it costs on DAVIS, chosen by CV.

    python bench/skip_cv.py run [--root DAVIS] [--cache FILE] [--threads 1]
    python bench/skip_cv.py report [--tolerance 0.005]
    python bench/skip_cv.py real [--frames 300]

``classic`` carries a frame by the optical flow alone (no features, no classifier) when,
on the last classified frame, every object's final mask agreed with its flow prior at IoU
>= ``skip_agreement``, at most ``skip_max`` frames in a row.  It is a speed setting, so
the cross-validated choice is made for speed at no loss: the candidates are listed from
the one that carries the most frames to the one that carries none, and for
each held-out sequence the first candidate whose mean J&F on the nine tuning sequences is
within ``--tolerance`` of the best one's is chosen (:func:`gazevos.eval.crossval.
cross_validate` with a tolerance: among near-ties the first listed wins).

* ``run`` tracks the ten dev sequences with every candidate and appends one JSON line per
  cell (J&F, frames, frames carried, seconds) to ``bench/results/skip-cv.jsonl``; cells
  already there are not run again.
* ``report`` prints the all-dev table and the leave-one-out and 5-fold choices.
* ``real`` runs the candidates on the shared real recordings (first ``--frames`` frames,
  objects from boxes on frame 0) and prints the share of frames carried and the mean IoU
  of the masks against the run without carrying, beside that of a run with another seed
  (the noise floor: no ground truth there).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cv_leaderboard import BASES, append_cell, cell_key, read_cache, track_and_score  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CACHE = REPO / "bench" / "results" / "skip-cv.jsonl"
BASE = "fast-band2-defer1"     # the session-10 defaults these settings were chosen around

#: most frames carried first, the default (nothing carried) last
CANDIDATES: list[tuple[str, dict]] = [
    ("skip-0.90-3", {"skip_agreement": 0.9, "skip_max": 3}),
    ("skip-0.90-2", {"skip_agreement": 0.9, "skip_max": 2}),
    ("skip-0.93-3", {"skip_agreement": 0.93, "skip_max": 3}),
    ("skip-0.93-2", {"skip_agreement": 0.93, "skip_max": 2}),
    ("skip-0.95-3", {"skip_agreement": 0.95, "skip_max": 3}),
    ("skip-0.95-2", {"skip_agreement": 0.95, "skip_max": 2}),
    ("skip-0.97-2", {"skip_agreement": 0.97, "skip_max": 2}),
    ("skip-0.95-1", {"skip_agreement": 0.95, "skip_max": 1}),
    ("no-carrying", {"skip_agreement": 0.0}),
]

#: real recordings: (folder, video glob, boxes x0,y0,x1,y1 on frame 0)
REAL = [
    ("tobii-g3-room-1", "scenevideo.mp4", [(720, 590, 1260, 1080), (1400, 540, 1600, 810)]),
    ("tobii-g3-room-2", "scenevideo.mp4", [(830, 510, 930, 730), (1220, 440, 1510, 620)]),
    ("neon-native-multipart", "Neon Scene Camera*.mp4", [(730, 690, 950, 1120)]),
]


def run(args: argparse.Namespace) -> None:
    import cv2

    from gazevos.eval.davis import resolve_sequences
    from gazevos.track import build_tracker

    cv2.setNumThreads(args.threads)
    names = resolve_sequences(args.root)
    for name, settings in CANDIDATES:
        cache = read_cache(args.cache)
        todo = [s for s in names if cell_key("classic", BASE, settings, s) not in cache]
        if not todo:
            continue
        trk = build_tracker("classic", **{**BASES["classic"][BASE], **settings})
        for seq in todo:
            row, frames, seconds, step_s = track_and_score(trk, args.root, seq)
            rec = append_cell(args.cache, {
                "tracker": "classic", "base": BASE, "candidate": name, "settings": settings,
                "sequence": seq, "jf": round(float(row["J&F-Mean"][0]), 6),
                "frames": frames, "carried": int(getattr(trk, "carried", 0)),
                "seconds": round(seconds, 2), "step_seconds": round(step_s, 2),
                "threads": args.threads})
            print(f"{name:12s} {seq:16s} J&F {rec['jf']:.3f} carried "
                  f"{rec['carried']}/{frames} ({seconds:.0f} s)", flush=True)


def report(args: argparse.Namespace) -> None:
    from gazevos.eval.crossval import cross_validate, k_folds, leave_one_out

    cells = read_cache(args.cache).values()
    scores: dict[str, dict[str, float]] = {n: {} for n, _ in CANDIDATES}
    carried: dict[str, list[float]] = {n: [] for n, _ in CANDIDATES}
    for rec in cells:
        if rec["candidate"] in scores:
            scores[rec["candidate"]][rec["sequence"]] = rec["jf"]
            carried[rec["candidate"]].append(rec["carried"] / rec["frames"])
    seqs = sorted(scores["no-carrying"])
    print("| candidate | all-dev J&F | frames carried | " + " | ".join(seqs) + " |")
    print("| --- " * (3 + len(seqs)) + "|")
    for n, _ in CANDIDATES:
        if len(scores[n]) == len(seqs):
            print(f"| {n} | {np.mean([scores[n][s] for s in seqs]):.3f} | "
                  f"{np.mean(carried[n]):.2f} | "
                  + " | ".join(f"{scores[n][s]:.3f}" for s in seqs) + " |")
    full = {n: v for n, v in scores.items() if len(v) == len(seqs)}
    for tol in sorted({0.0, args.tolerance}):
        loo = cross_validate(full, leave_one_out(seqs), tolerance=tol)
        kf = np.mean([cross_validate(full, k_folds(seqs, 5, seed), tolerance=tol).score
                      for seed in range(10)])
        picks = ", ".join(f"{c} {k}" for c, k in loo.chosen_counts().most_common())
        print(f"tolerance {tol}: CV J&F leave-one-out {loo.score:.3f} (5-fold {kf:.3f}); "
              f"chosen: {picks}")
    default = cross_validate({"no-carrying": full["no-carrying"]}, leave_one_out(seqs)).score
    print(f"no carrying (no choice): {default:.3f}")


def mean_iou(a: list[np.ndarray], b: list[np.ndarray], n_objects: int) -> float:
    """Mean IoU of objects 1..n over frames 1.. of two label-map sequences (where either
    has the object)."""
    ious = []
    for x, y in zip(a[1:], b[1:], strict=True):
        for k in range(1, n_objects + 1):
            u = np.count_nonzero((x == k) | (y == k))
            if u:
                ious.append(np.count_nonzero((x == k) & (y == k)) / u)
    return float(np.mean(ious))


def real_recordings(n_frames: int
                    ) -> Iterator[tuple[str, int, list[np.ndarray], np.ndarray]]:
    """``(name, objects, frames, first)`` of each shared real recording in :data:`REAL`:
    its first ``n_frames`` RGB frames and the label map of its boxes on frame 0 (GrabCut,
    as ``annotate`` makes it); a recording that is absent is named and skipped."""
    import av

    from gazevos.gaze.prompts import box_to_mask

    for folder, pattern, boxes in REAL:
        paths = sorted((SHARED / "recordings" / folder).glob(pattern))
        if not paths:
            print(f"{folder}: not found, skipped")
            continue
        frames: list[np.ndarray] = []
        with av.open(str(paths[0])) as c:
            for f in c.decode(video=0):
                frames.append(f.to_ndarray(format="rgb24"))
                if len(frames) >= n_frames:
                    break
        first = np.zeros(frames[0].shape[:2], np.uint8)
        for k, b in enumerate(boxes):
            first[box_to_mask(frames[0], b) > 0] = k + 1
        yield folder, len(boxes), frames, first


def real(args: argparse.Namespace) -> None:
    from gazevos.track import build_tracker

    def track(frames: list[np.ndarray], first: np.ndarray, **settings: object
              ) -> tuple[list[np.ndarray], int]:
        trk = build_tracker("classic", **settings)
        out = [trk.step(img, first if i == 0 else None).labels.copy()
               for i, img in enumerate(frames)]
        return out, int(getattr(trk, "carried", 0))

    for folder, n, frames, first in real_recordings(args.frames):
        base, _ = track(frames, first, skip_agreement=0.0)

        seed1, _ = track(frames, first, skip_agreement=0.0, seed=1)
        noise = mean_iou(base, seed1, n)
        print(f"{folder} ({frames[0].shape[1]}x{frames[0].shape[0]}, {len(frames)} frames, "
              f"{n} objects): seed 1 against seed 0, mean IoU {noise:.3f}", flush=True)
        for name, settings in CANDIDATES[:-1]:
            masks, carried = track(frames, first, **settings)
            print(f"  {name:12s} carried {carried / len(frames):.2f}, mean IoU against no "
                  f"carrying {mean_iou(base, masks, n):.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["run", "report", "real"])
    ap.add_argument("--root", default=str(SHARED / "davis2016-dev"))
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tolerance", type=float, default=0.005)
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    {"run": run, "report": report, "real": real}[args.command](args)


if __name__ == "__main__":
    main()
