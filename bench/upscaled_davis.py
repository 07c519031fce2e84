"""DAVIS-2016 dev at a scene camera's resolution: frames upscaled, masks scored at 854x480.

    python bench/upscaled_davis.py --tracker mast [--size 1920x1080] [--set KEY=VALUE]
        [--sequences dog goat ...]

The real recordings have no ground truth; this checks what a tracker setting that only
acts on large frames (a pixel cap such as ``mast``'s ``max_pixels`` or ``classic``'s
``max_work_pixels``) does to accuracy there.  Every frame is resized to ``--size``
(bilinear) and tracked from the upscaled first mask (nearest); each predicted label map is
resized back to 854x480 (nearest) and scored by :mod:`gazevos.eval.davis`.  Upscaled
DAVIS is smoother than real footage of that size, so this is a check of the setting, not
of the camera.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from gazevos.eval.davis import evaluate_sequence, resolve_sequences, summarise
from gazevos.eval.runner import check_sequence
from gazevos.io import read_mask, write_mask
from gazevos.runtime import configure_threads
from gazevos.track import build_tracker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared"
                                          / "data" / "davis2016-dev"))
    ap.add_argument("--tracker", default="mast")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--sequences", nargs="*")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a tracker setting (YAML value), repeatable")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.set)}
    configure_threads(args.threads)
    seqs = resolve_sequences(args.root, args.sequences or None)
    with tempfile.TemporaryDirectory() as tmp:
        t0, n = time.perf_counter(), 0
        for s in seqs:
            source, mask_path = check_sequence(args.root, s)
            first = cv2.resize(read_mask(mask_path), (w, h), interpolation=cv2.INTER_NEAREST)
            trk = build_tracker(args.tracker, **overrides)
            out = Path(tmp) / s
            out.mkdir()
            for f in source:
                big = cv2.resize(f.image, (w, h), interpolation=cv2.INTER_LINEAR)
                pred = trk.step(big, mask=first if f.index == 0 else None)
                small = cv2.resize(pred.labels, f.image.shape[1::-1],
                                   interpolation=cv2.INTER_NEAREST)
                write_mask(out / f"{f.name}.png", small.astype(np.uint8))
                n += 1
        dt = time.perf_counter() - t0
        scores = [evaluate_sequence(args.root, tmp, s) for s in seqs]
    g = summarise(scores).global_table.iloc[0]
    per = ", ".join(f"{sc.sequence} {(sc.j.mean() + sc.f.mean()) / 2:.3f}" for sc in scores)
    print(f"{args.tracker} {' '.join(args.set)} at {w}x{h}: J&F {g['J&F-Mean']:.3f} "
          f"(J {g['J-Mean']:.3f}, F {g['F-Mean']:.3f}); {n / dt:.2f} frames/s "
          f"(upscaling included)\n  {per}", flush=True)


if __name__ == "__main__":
    main()
