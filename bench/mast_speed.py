"""Bench: ``mast`` (or ``--tracker ranet``) step time at 480p, per setting and objects.

Tracks the first ``--frames`` frames of a DAVIS dev sequence with 1, 2 and 3 objects (the
real mask split into vertical bands) and prints the mean ``Tracker.step`` time after the
memory is full and its long-term references are searched on a dilated grid (frames
``--skip`` on, default 21: from frame 21 both frame 0 and frame 5 are more than 15 frames
back), wall-clock and process CPU time (on a shared machine the
CPU time is the steadier figure: with 1 thread it is the time the step would take on an
otherwise idle core).

    python bench/mast_speed.py --checkpoint CKPT [--threads 2] [--set scale=0.375 ...]
    python bench/mast_speed.py --tracker ranet [--objects 1] [--set flip_test=true ...]

The first step's time is printed too (for ``ranet`` it includes the per-video online
adaptation).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-dev"


def split_objects(mask: np.ndarray, k: int) -> np.ndarray:
    """The object of a 0/1 mask cut into ``k`` vertical bands with ids 1..k."""
    out = np.zeros(mask.shape, np.uint8)
    ys, xs = np.nonzero(mask)
    edges = np.linspace(xs.min(), xs.max() + 1, k + 1)
    for i in range(k):
        sel = (xs >= edges[i]) & (xs < edges[i + 1])
        out[ys[sel], xs[sel]] = i + 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracker", default="mast")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--objects", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--sequence", default="dog")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--skip", type=int, default=21, help="frames not timed (memory filling)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="tracker settings, NAME=VALUE")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import cv2
    import torch
    import yaml

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from gazevos.io import open_frames, read_mask
    from gazevos.track import build_tracker

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    frames = [f.image for _, f in zip(range(args.frames),
                                      open_frames(DAVIS / "JPEGImages" / "480p" / args.sequence),
                                      strict=False)]
    mask = read_mask(DAVIS / "Annotations" / "480p" / args.sequence / "00000.png") > 0
    for k in args.objects:
        trk = build_tracker(args.tracker, checkpoint=args.checkpoint, **overrides)
        first = split_objects(mask, k)
        times, cpu = [], []
        for i, img in enumerate(frames):
            t0, c0 = time.perf_counter(), time.process_time()
            trk.step(img, mask=first if i == 0 else None)
            if i == 0:
                first_s = time.perf_counter() - t0
            if i >= args.skip:
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        ms = 1000 * float(np.mean(times))
        print(f"{args.tracker}, objects {k}: first step {first_s:.1f} s; then "
              f"{ms:.0f} ms/frame wall ({1000 / ms:.2f} frames/s), "
              f"{1000 * float(np.mean(cpu)):.0f} ms CPU/frame, settings "
              f"{overrides or 'default'}, {args.threads} threads, load {os.getloadavg()[0]:.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
