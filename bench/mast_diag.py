"""Bench: per-frame error analysis of a tracker on a few DAVIS sequences (why it fails).

Tracks each sequence from its first annotation in this process (nothing written) with the
given settings and, for every scored frame (first and last excluded, as in DAVIS), computes
J (IoU) and splits the error into *bleeding* (false-positive area / object area) and
*missing* (false-negative area / object area).  Prints per sequence: mean J, mean J over
each third of the sequence (drift shows as a falling curve), the mean bleed and miss
ratios, the number of frames where the object is lost (J < 0.1), and optionally the whole
per-frame J curve.  J only (F is slower and tells the same story here).

    python bench/mast_diag.py --sequences drift-chicane parkour [--tracker mast]
        [--checkpoint CKPT] [--config YAML] [--set scale=0.75 ...] [--curve] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-dev"


def frame_errors(gt: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """``(J, bleed, miss)`` of one binary ``(H, W)`` prediction against the ground truth.

    ``bleed = |pred \\ gt| / |gt|`` and ``miss = |gt \\ pred| / |gt|`` (0 when gt is empty;
    J is 1 when both are empty, as in DAVIS).
    """
    gt, pred = gt.astype(bool), pred.astype(bool)
    inter, union, area = (gt & pred).sum(), (gt | pred).sum(), gt.sum()
    j = 1.0 if union == 0 else float(inter / union)
    if area == 0:
        return j, 0.0, 0.0
    return j, float((pred & ~gt).sum() / area), float((gt & ~pred).sum() / area)


def summarise(errors: np.ndarray) -> dict[str, float]:
    """Summary of a ``(T, 3)`` array of per-frame ``(J, bleed, miss)``."""
    thirds = np.array_split(errors[:, 0], 3)
    return {"J": float(errors[:, 0].mean()), "J1": float(thirds[0].mean()),
            "J2": float(thirds[1].mean()), "J3": float(thirds[2].mean()),
            "bleed": float(errors[:, 1].mean()), "miss": float(errors[:, 2].mean()),
            "lost": int((errors[:, 0] < 0.1).sum()), "frames": int(len(errors))}


def track_sequence(tracker, root: Path, seq: str) -> tuple[np.ndarray, float]:  # noqa: ANN001
    """Per-frame ``(T, 3)`` errors of the object(s) taken together, and seconds per frame."""
    from gazevos.eval.davis import annotation_files
    from gazevos.io import open_frames, read_mask

    anns = annotation_files(root, seq)
    first = read_mask(anns[0])
    scored = {p.stem: p for p in anns[1:-1]}
    tracker.reset()
    rows, t0, n = [], time.perf_counter(), 0
    for i, frame in enumerate(open_frames(root / "JPEGImages" / "480p" / seq)):
        pred = tracker.step(frame.image, mask=first if i == 0 else None)
        n += 1
        name = f"{i:05d}"
        if name in scored:
            gt = read_mask(scored[name])
            rows.append(frame_errors((gt > 0) & (gt < 255), pred.labels > 0))
    return np.array(rows), (time.perf_counter() - t0) / max(n, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", nargs="+", required=True)
    ap.add_argument("--tracker", default="mast")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", nargs="*", default=[], help="tracker settings, NAME=VALUE")
    ap.add_argument("--root", type=Path, default=DAVIS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--curve", action="store_true", help="print the per-frame J curve")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import cv2
    import torch
    import yaml

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from gazevos.track import build_tracker

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    kw = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    tracker = build_tracker(args.tracker, config=args.config, **kw, **overrides)
    label = " ".join(args.set) or args.config or "default"
    means = []
    for seq in args.sequences:
        errors, spf = track_sequence(tracker, args.root, seq)
        s = summarise(errors)
        means.append(s["J"])
        print(f"{args.tracker} [{label}] {seq}: J {s['J']:.3f} (thirds {s['J1']:.3f} "
              f"{s['J2']:.3f} {s['J3']:.3f}), bleed {s['bleed']:.2f}, miss {s['miss']:.2f}, "
              f"lost {s['lost']}/{s['frames']} frames, {spf:.2f} s/frame", flush=True)
        if args.curve:
            print("  J curve: " + " ".join(f"{v:.2f}" for v in errors[:, 0]))
    print(f"{args.tracker} [{label}] mean J over {len(means)} sequences: "
          f"{float(np.mean(means)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
