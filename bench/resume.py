"""Interrupt ``gazevos annotate`` half-way with Ctrl-C (SIGINT), resume it, and compare
with an uninterrupted run: wall times and whether the outputs are equal.

    python bench/resume.py --seconds 20 --resolution 640x360 --tracker classic

Makes a demo recording (``gazevos.gaze.demo.make_demo_sample``), runs ``annotate`` on it
three ways in subprocesses (full; interrupted when half the masks are written; resumed
with ``--resume``) and prints the times and the comparison.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gazevos.gaze.demo import make_demo_sample
from gazevos.io import read_mask
from gazevos.io.rundir import staging_path


def _cmd(rec: Path, boxes: list[str], points: list[str], out: Path, tracker: str,
         extra: list[str]) -> list[str]:
    args = [sys.executable, "-m", "gazevos.cli", "annotate", str(rec), "--out", str(out),
            "--tracker", tracker, "--no-video", "-q", *extra]
    for b in boxes:
        args += ["--box", b]
    for p in points:
        args += ["--point", p]
    return args


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--resolution", default="640x360")
    ap.add_argument("--tracker", default="classic")
    ap.add_argument("--at", type=float, default=0.5, help="interrupt at this fraction")
    args = ap.parse_args()
    w, h = (int(v) for v in args.resolution.split("x"))
    work = Path(tempfile.mkdtemp(prefix="gazevos-resume-"))
    sample = make_demo_sample(work / "sample", width=w, height=h, duration=args.seconds)
    n = len(np.load(Path(sample.root) / "exports" / "000" / "world_timestamps.npy"))
    full_out, cut_out = work / "full", work / "cut"
    make = lambda out, extra=(): _cmd(sample.root, list(sample.boxes), list(sample.points),  # noqa: E731
                                      out, args.tracker, list(extra))
    t_full = _timed(make(full_out))

    t0 = time.perf_counter()
    proc = subprocess.Popen(make(cut_out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    masks = staging_path(cut_out) / "masks"
    while proc.poll() is None:
        if masks.is_dir() and len(list(masks.glob("*.png"))) >= args.at * n:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    err = proc.communicate()[1]
    t_cut = time.perf_counter() - t0
    done_at = len(list(masks.glob("*.png")))
    t_resume = _timed(make(cut_out, ["--resume"]))

    # the part of a run that is not tracking (start-up, reading, gaze, tables, report): a
    # --resume on a copy of the finished run with another tolerance reuses its masks
    shutil.copytree(full_out, work / "overhead")
    t_rest = _timed(make(work / "overhead", ["--resume", "--tolerance-deg", "1.6"]))

    equal = all(np.array_equal(read_mask(full_out / "masks" / f"{i:05d}.png"),
                               read_mask(cut_out / "masks" / f"{i:05d}.png")) for i in range(n))
    metrics_equal = pd.read_csv(full_out / "metrics.csv").equals(
        pd.read_csv(cut_out / "metrics.csv"))
    print(f"recording: demo {w}x{h}, {n} frames, tracker {args.tracker}")
    print(f"interrupt message: {err.strip().splitlines()[-1] if err.strip() else '(none)'}")
    print("| run | wall s |")
    print("|---|---|")
    print(f"| full, uninterrupted | {t_full:.1f} |")
    print(f"| interrupted (SIGINT at {done_at}/{n} masks) | {t_cut:.1f} |")
    print(f"| resumed with --resume | {t_resume:.1f} |")
    print(f"| interrupted + resumed | {t_cut + t_resume:.1f} |")
    print(f"| not tracking (start-up, gaze, tables, report; masks reused) | {t_rest:.1f} |")
    print(f"tracking part, resumed / full: {(t_resume - t_rest) / (t_full - t_rest):.2f}")
    print(f"resumed / full: {t_resume / t_full:.2f}; masks equal: {equal}; "
          f"metrics.csv equal: {metrics_equal}")


if __name__ == "__main__":
    main()
