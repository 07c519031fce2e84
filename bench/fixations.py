"""Run every fixation detector on the Pupil Core samples in ../shared and compare them.

    python bench/fixations.py [--shared ../shared] [--fov DEG]

For each recording: samples, valid samples, then per detector the number of fixations, their
mean / median duration, the share of valid samples inside fixations and the run time; then
the pairwise agreement between detectors (matched-event F1 by temporal overlap, mean
|onset| and |offset| differences) and, where the export has Pupil Player's own fixations
(``fixations.csv``), every detector's agreement with them.

Geometry: ``bleach-naruto`` uses its own ``world.intrinsics`` (1280x720, radial model).
``saccade-task`` ships neither video nor intrinsics: it is read as a 1280x720 scene (Pupil
Core's default world-camera mode) with the bleach-naruto intrinsics (the same kind of scene
camera), or as a pinhole of ``--fov`` degrees when that option is given.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from gazevos.gaze.agreement import fixation_agreement  # noqa: E402
from gazevos.gaze.fixations import detect_fixations, valid_samples  # noqa: E402
from gazevos.gaze.geometry import CameraGeometry  # noqa: E402
from gazevos.gaze.sync import sync_gaze  # noqa: E402
from gazevos.io.recordings import read_recording  # noqa: E402

DETECTORS = ("i2mc", "idt", "ivt")


def run(name: str, gaze: pd.DataFrame, geometry: CameraGeometry,
        device: pd.DataFrame | None) -> None:
    ok = valid_samples(gaze)
    span = gaze["time"].iloc[-1] - gaze["time"].iloc[0]
    print(f"\n## {name}: {len(gaze)} samples over {span:.2f} s, {ok.sum()} valid "
          f"(flag ok, or confidence >= 0.6 without flags); geometry: {geometry.source}")
    tables: dict[str, pd.DataFrame] = {}
    print(f"{'detector':9s} {'fixations':>9s} {'mean dur':>9s} {'median':>8s} "
          f"{'in fix':>7s} {'time':>7s}")
    for m in DETECTORS + (("device",) if device is not None else ()):
        t0 = time.perf_counter()
        fx = detect_fixations(gaze, m, geometry, device=device)
        dt = time.perf_counter() - t0
        tables[m] = fx
        share = fx["n_samples"].sum() / max(ok.sum(), 1)
        print(f"{m:9s} {len(fx):9d} {fx['duration'].mean() * 1000:7.0f}ms "
              f"{fx['duration'].median() * 1000:6.0f}ms {share:7.1%} {dt:6.2f}s")
    names = list(tables)
    print("\nagreement, rows detected vs columns reference: F1 / mean |onset diff| ms / "
          "mean |offset diff| ms")
    print(" " * 7 + "".join(f"{n:>20s}" for n in names))
    for a in names:
        cells = []
        for b in names:
            if a == b:
                cells.append(f"{'-':>20s}")
                continue
            r = fixation_agreement(tables[a], tables[b])
            cells.append(f"{r.f1:5.2f}/{r.onset_mae * 1000:5.0f}/{r.offset_mae * 1000:5.0f}"
                         .rjust(20))
        print(f"{a:7s}" + "".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--fov", type=float, default=None,
                    help="pinhole FoV for saccade-task instead of the bleach-naruto intrinsics")
    args = ap.parse_args()
    import I2MC  # noqa: F401  (imported here so that run times exclude imports)
    import pymovements.events  # noqa: F401
    pc = Path(args.shared) / "data" / "pupil-core"
    if not pc.is_dir():
        raise SystemExit(f"no Pupil Core samples at {pc}")
    bn = read_recording(pc / "bleach-naruto")
    bn_geom = CameraGeometry.from_recording(bn)
    sac = read_recording(pc / "saccade-task", resolution=(1280, 720))
    sac_geom = (CameraGeometry.from_intrinsics(bn.intrinsics) if args.fov is None
                else CameraGeometry.from_fov((1280, 720), args.fov))
    run("saccade-task (assumed 1280x720)", sac.gaze, sac_geom, sac.fixations)
    # bleach-naruto has a video: put the samples on frames (adds frame and flag columns)
    run("bleach-naruto", sync_gaze(bn).samples, bn_geom, bn.fixations)


if __name__ == "__main__":
    main()
