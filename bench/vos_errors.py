"""Where a tracker's masks go wrong: IoU over time, and misses vs. bleeding.

    python bench/vos_errors.py RESULTS_DIR [RESULTS_DIR ...] [--root DAVIS] [--bins 4]

Each RESULTS_DIR holds ``SEQ/NNNNN.png`` label maps (as written by ``gazevos davis run``
or ``bench/ranet_kfold.py``).  For every sequence found and every annotated frame after
the first, foreground (all objects merged) is compared with the ground truth:

* ``IoU``;
* ``miss`` = |GT \\ pred| / |GT| (the object, or part of it, is lost);
* ``bleed`` = |pred \\ GT| / |pred| (prediction on background or other things);
* ``lost`` = share of frames with IoU < 0.1 although the object is visible.

Frames are split into ``--bins`` equal parts of each sequence (early -> late) so that
drift shows up as falling IoU / rising miss or bleed.  Prints one table per results dir,
with a row per sequence and the mean per time bin.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "davis2016-dev"


def frame_errors(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """``(iou, miss, bleed)`` of two ``(H, W)`` bool masks (NaN where undefined)."""
    inter = float((pred & gt).sum())
    p, g = float(pred.sum()), float(gt.sum())
    union = p + g - inter
    iou = inter / union if union else 1.0
    miss = (g - inter) / g if g else float("nan")
    bleed = (p - inter) / p if p else float("nan")
    return iou, miss, bleed


def sequence_errors(root: Path, results: Path, name: str) -> np.ndarray:
    """``(T - 1, 3)`` per-frame ``iou, miss, bleed`` of one sequence (first frame skipped)."""
    from gazevos.eval.davis import annotation_files
    from gazevos.io.masks import read_mask

    rows = []
    for ann in annotation_files(root, name)[1:]:
        gt = read_mask(ann)
        gt = (gt > 0) & (gt < 255)
        path = results / name / ann.name
        pred = read_mask(path) > 0 if path.is_file() else np.zeros_like(gt)
        rows.append(frame_errors(pred, gt))
    return np.asarray(rows, dtype=np.float64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, nargs="+")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--bins", type=int, default=4)
    args = ap.parse_args()
    if not (args.root / "Annotations").is_dir():
        print(f"DAVIS data not found at {args.root}; nothing to do")
        return 0
    for res in args.results:
        names = sorted(p.name for p in res.iterdir() if p.is_dir())
        print(f"\n{res}")
        print(f"{'sequence':16s} {'IoU':>5s} {'miss':>5s} {'bleed':>5s} {'lost':>5s}  "
              f"IoU per time bin")
        binned = []
        for name in names:
            e = sequence_errors(args.root, res, name)
            parts = np.array_split(e[:, 0], args.bins)
            binned.append([p.mean() for p in parts])
            lost = float(np.mean((e[:, 0] < 0.1) & ~np.isnan(e[:, 1])))
            print(f"{name:16s} {np.nanmean(e[:, 0]):5.2f} {np.nanmean(e[:, 1]):5.2f} "
                  f"{np.nanmean(e[:, 2]):5.2f} {lost:5.2f}  "
                  + " ".join(f"{v:4.2f}" for v in binned[-1]))
        print(f"{'mean':16s} {'':23s}  " + " ".join(f"{v:4.2f}" for v in np.mean(binned, 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
