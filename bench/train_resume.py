"""Interrupt ``gazevos train mast`` half-way with Ctrl-C (SIGINT), resume it, and compare
with an uninterrupted run: wall times and whether the final weights are equal.

    python bench/train_resume.py [--frames DIR_OR_VIDEO ...] [--steps 200] [--at 0.5]
        [--config mast] [--threads 1]

Runs the same training three ways in subprocesses (full; interrupted by SIGINT once the
staged ``log.csv`` has ``at * steps`` rows; the same command with ``--resume``) and prints
the times, the step the interrupt saved, and whether ``model.pt`` / ``last.pt`` of the two
runs hold the same tensors (max absolute difference otherwise).  Default frames: two
DAVIS-2016 dev sequences from ``../shared``.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gazevos.io.rundir import staging_path
from gazevos.models.checkpoint import torch_load

REPO = Path(__file__).resolve().parents[1]
DAVIS = REPO.parent / "shared" / "data" / "davis2016-dev" / "JPEGImages" / "480p"


def _max_diff(a: Path, b: Path) -> float:
    sa, sb = torch_load(a)["state_dict"], torch_load(b)["state_dict"]
    if sa.keys() != sb.keys():
        return float("inf")
    return max(float((sa[k].double() - sb[k].double()).abs().max()) if sa[k].numel() else 0.0
               for k in sa)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", nargs="+", type=Path,
                    default=[DAVIS / "dog", DAVIS / "car-roundabout"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--at", type=float, default=0.5, help="interrupt at this fraction")
    ap.add_argument("--config", default="mast")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gazevos-train-resume-"))

    def cmd(out: Path, *extra: str) -> list[str]:
        c = [sys.executable, "-m", "gazevos.cli", "train", "mast", "--out", str(out),
             "--config", args.config, "--steps", str(args.steps), "--threads",
             str(args.threads), "--no-progress", *extra]
        for f in args.frames:
            c += ["--frames", str(f)]
        return c

    full, cut = work / "full", work / "cut"
    t0 = time.perf_counter()
    subprocess.run(cmd(full), check=True, stdout=subprocess.DEVNULL)
    t_full = time.perf_counter() - t0

    t0 = time.perf_counter()
    # a child of a background job would inherit an ignored SIGINT: give it the default
    proc = subprocess.Popen(cmd(cut), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_sigint)
    log = staging_path(cut) / "log.csv"
    target = int(args.at * args.steps)
    while proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) - 1 >= target:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    err = proc.communicate()[1]
    t_cut = time.perf_counter() - t0
    if proc.returncode == 0:
        raise SystemExit("the run finished before it was interrupted")
    saved = int(torch_load(staging_path(cut) / "last.pt")["step"])

    t0 = time.perf_counter()
    subprocess.run(cmd(cut, "--resume"), check=True, stdout=subprocess.DEVNULL)
    t_resume = time.perf_counter() - t0

    d_model = _max_diff(full / "model.pt", cut / "model.pt")
    d_last = _max_diff(full / "last.pt", cut / "last.pt")
    print(f"frames: {', '.join(str(f) for f in args.frames)}; config {args.config}, "
          f"{args.steps} steps, {args.threads} thread(s)")
    print(f"interrupt (exit {proc.returncode}): "
          + " | ".join(ln for ln in err.splitlines() if ln.strip()))
    print("| run | wall s |")
    print("|---|---|")
    print(f"| full, uninterrupted | {t_full:.1f} |")
    print(f"| interrupted (SIGINT, saved at step {saved}/{args.steps}) | {t_cut:.1f} |")
    print(f"| resumed with --resume | {t_resume:.1f} |")
    print(f"| interrupted + resumed | {t_cut + t_resume:.1f} |")
    print(f"resumed / full: {t_resume / t_full:.2f}; model.pt max |diff| {d_model:g}, "
          f"last.pt max |diff| {d_last:g} ({'equal' if d_model == d_last == 0 else 'DIFFER'})")


if __name__ == "__main__":
    main()
