"""Gaze -> object mapping and calibration correction on the real bleach-naruto recording.

    python bench/gaze_mapping.py [--shared ../shared] [--method i2mc]

The two words on the screen ("Bleach" = object 1, "Naruto" = object 2) are cut out of every
frame by a fixed image rule (bright screen, dark text, letters closed into word blobs): a
stand-in for tracked masks, good enough on this clean sample and used only here.  The script
maps every gaze sample and fixation onto the words (1.5 deg tolerance through the camera
intrinsics), prints the AOI metrics, then fits each calibration-correction model and prints
the fitted transform, the distance of fixations to their word before/after, how many samples
moved between objects, and the AOI metrics after the best fit.  It also times the mapping.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import ndimage  # noqa: E402

from gazevos.gaze.correction import CorrectionConfig, compare_mappings, fit_correction  # noqa: E402
from gazevos.gaze.fixations import detect_fixations  # noqa: E402
from gazevos.gaze.geometry import CameraGeometry  # noqa: E402
from gazevos.gaze.mapping import GazeObjectMapper, aggregate_fixations  # noqa: E402
from gazevos.gaze.metrics import aoi_metrics  # noqa: E402
from gazevos.gaze.sync import sync_gaze  # noqa: E402
from gazevos.io import open_frames  # noqa: E402
from gazevos.io.recordings import read_recording  # noqa: E402


def word_labels(img: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8: 1 = word in the left half, 2 = word in the right half, 0 = rest."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    n, lab, stats, _ = cv2.connectedComponentsWithStats((g > 110).astype(np.uint8))
    screen = ndimage.binary_fill_holes(lab == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    screen = cv2.erode(screen.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    text = cv2.morphologyEx((screen & (g < 90)).astype(np.uint8), cv2.MORPH_CLOSE,
                            np.ones((25, 25), np.uint8))
    n, lab, stats, cents = cv2.connectedComponentsWithStats(text)
    out = np.zeros(g.shape, np.uint8)
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] > 1500:
            out[lab == i] = 1 if cents[i][0] < g.shape[1] / 2 else 2
    return out


def summary(name: str, samples: pd.DataFrame, fixations: pd.DataFrame) -> str:
    valid = samples["hit"].isin(("inside", "near", "none"))
    on = samples["object_id"] > 0
    fon = fixations["object_id"] > 0
    return (f"{name:18s} samples on a word {int((valid & on).sum()):4d}/{int(valid.sum())} "
            f"({(valid & on).sum() / max(valid.sum(), 1):5.1%}; inside "
            f"{int((samples['hit'] == 'inside').sum())}, near "
            f"{int((samples['hit'] == 'near').sum())}), fixations on a word "
            f"{int(fon.sum())}/{len(fixations)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--method", default="i2mc")
    args = ap.parse_args()
    root = Path(args.shared) / "data" / "pupil-core" / "bleach-naruto"
    if not root.is_dir():
        raise SystemExit(f"no bleach-naruto sample at {root}")
    rec = read_recording(root)
    geom = CameraGeometry.from_recording(rec)
    gaze = sync_gaze(rec).samples
    t0 = time.perf_counter()
    maps = [word_labels(f.image) for f in open_frames(rec.video_path)]
    print(f"word label maps: {len(maps)} frames in {time.perf_counter() - t0:.1f} s")

    fixations = detect_fixations(gaze, args.method, geom)
    mapper = GazeObjectMapper(geom)
    t0 = time.perf_counter()
    samples = mapper.map_gaze(gaze, lambda f: maps[f])
    dt = time.perf_counter() - t0
    print(f"mapping: {len(gaze)} samples on {gaze['frame'].nunique()} frames of "
          f"{rec.resolution[0]}x{rec.resolution[1]} in {dt * 1000:.0f} ms "
          f"({dt / len(gaze) * 1e6:.0f} us per sample, tolerance at the centre "
          f"{mapper.tolerance_px(*np.array([geom.principal_point]).T)[0]:.1f} px)")
    fmapped = aggregate_fixations(fixations, samples)
    print(f"{len(fixations)} fixations ({args.method}); geometry: {geom.source}\n")
    print(summary("no correction", samples, fmapped))
    start = float(rec.frame_times[0])
    print(aoi_metrics(samples, fmapped, t0=start).round(3).to_string(index=False))

    mid = float(gaze["time"].iloc[0] + gaze["time"].iloc[-1]) / 2
    first = fixations[fixations["start"] < mid]
    late = (samples["time"] >= mid).to_numpy()
    print(f"\nheld-out check: fit on the {len(first)} fixations starting before {mid - start:.2f}"
          f" s, score the {int(late.sum())} samples after; second half without correction:")
    print("  " + summary("no correction", samples[late], fmapped[fmapped["start"] >= mid]))
    best = None
    for model in ("offset", "offset_scale", "offset_scale_xy"):
        corr = fit_correction(fixations, lambda f: maps[f], geom, CorrectionConfig(model=model))
        g2 = corr.apply_gaze(gaze)
        s2 = mapper.map_gaze(g2, lambda f: maps[f])
        f2 = aggregate_fixations(corr.apply_gaze(fixations), s2)
        moved = compare_mappings(samples, s2)
        print(f"\n{model}: dx {corr.dx:+.1f} px ({corr.dx_deg:+.2f} deg), dy {corr.dy:+.1f} px "
              f"({corr.dy_deg:+.2f} deg), sx {corr.sx:.3f}, sy {corr.sy:.3f}; fixations used "
              f"{corr.n_used}/{corr.n_fixations}, {corr.iterations} rounds; mean distance to "
              f"the word {corr.mean_dist_before_deg:.2f} -> {corr.mean_dist_after_deg:.2f} deg"
              f"{'; ' + corr.note if corr.note else ''}")
        print(f"  samples moved between objects: {int(moved['n_samples'].sum())} ("
              + ", ".join(f"{a}->{b}: {n}" for a, b, n in moved.itertuples(index=False)) + ")")
        print("  " + summary("corrected", s2, f2))
        half = fit_correction(first, lambda f: maps[f], geom, CorrectionConfig(model=model))
        g3 = half.apply_gaze(gaze)
        s3 = mapper.map_gaze(g3, lambda f: maps[f])
        f3 = aggregate_fixations(half.apply_gaze(fixations), s3)
        print(f"  held-out: fitted dx {half.dx:+.1f} dy {half.dy:+.1f} sx {half.sx:.3f} "
              f"sy {half.sy:.3f}; " + summary("second half", s3[late], f3[f3["start"] >= mid]))
        best = (model, s2, f2)
    assert best is not None
    print(f"\nAOI metrics after the {best[0]} correction:")
    print(aoi_metrics(best[1], best[2], t0=start).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
