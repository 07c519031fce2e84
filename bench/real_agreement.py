"""``classic`` with other settings against its defaults on the shared real recordings.

    python bench/real_agreement.py --set flow_check_photometric=0 [--frames 300]

There is no ground truth for the real recordings (``../shared/data/recordings``), so a
change of the defaults is checked there by how much it moves the masks: the mean IoU of
each object between the run with the settings and the default run, next to the same
figure for a change that should not matter (sampling/boosting seed 1), and the CPU time
per frame of each run.  Objects are the boxes of ``bench/skip_cv.py``'s ``REAL`` list.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from skip_cv import mean_iou, real_recordings  # noqa: E402


def track(frames: list[np.ndarray], first: np.ndarray, **settings: object
          ) -> tuple[list[np.ndarray], float]:
    """Label maps of every frame and CPU ms per frame of a ``classic`` run."""
    from gazevos.track import build_tracker

    trk = build_tracker("classic", **settings)
    c = time.process_time()
    out = [trk.step(img, first if i == 0 else None).labels.copy()
           for i, img in enumerate(frames)]
    return out, 1000 * (time.process_time() - c) / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="the settings to compare with the defaults (repeatable)")
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    settings = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.set)}
    for folder, n, frames, first in real_recordings(args.frames):
        base, ms0 = track(frames, first)
        seed1, _ = track(frames, first, seed=1)
        other, ms1 = track(frames, first, **settings)
        print(f"{folder} ({frames[0].shape[1]}x{frames[0].shape[0]}, {len(frames)} frames, "
              f"{n} objects): {settings} against the defaults, mean IoU "
              f"{mean_iou(base, other, n):.3f} (seed 1 against seed 0: "
              f"{mean_iou(base, seed1, n):.3f}); CPU {ms0:.0f} ms per frame by default, "
              f"{ms1:.0f} with the settings", flush=True)


if __name__ == "__main__":
    main()
