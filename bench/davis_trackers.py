"""Benchmark trackers on the DAVIS-2016 dev split: accuracy, speed and memory.

    python bench/davis_trackers.py --trackers copy flow [--checkpoint CKPT] [--config YAML]
        [--root DAVIS] [--threads 2] [--keep DIR] [--label NAME] [--update-benchmarks]

For each tracker, a fresh process (``--threads`` threads for OpenCV/torch/OpenMP) runs
``gazevos.eval.runner.run_sequences`` over the sequences (first annotation given, every
frame tracked, palette PNGs written) and reports its frames/s end to end (JPEG decoding +
tracker step + PNG writing), its frames/s of the tracker step alone, and its peak RSS
(``getrusage`` of that process).  This process then scores the results with the official
semi-supervised protocol (``gazevos.eval.davis``) and prints J&F / J / F means, recalls,
decays and the per-sequence J&F.  ``--update-benchmarks`` writes/updates one row per tracker
in the leaderboard and per-sequence tables of BENCHMARKS.md (rows of other trackers are
kept).  The root defaults to ``../shared/data/davis2016-dev``; without it the script says
so and exits 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "davis2016-dev"

LEADERBOARD_HEADER = ["tracker", "J&F", "J", "F", "J recall", "J decay", "F recall", "F decay",
                      "frames/s end-to-end", "frames/s step", "peak RSS MiB", "load avg",
                      "settings", "date"]


def _set_threads(n: int) -> None:
    import cv2

    cv2.setNumThreads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def worker(args: argparse.Namespace) -> int:
    """Track every sequence in this process; write timing and peak RSS as JSON."""
    _set_threads(args.threads)
    from gazevos.eval.davis import resolve_sequences
    from gazevos.eval.runner import run_sequences
    from gazevos.track import build_tracker

    names = resolve_sequences(args.root, args.sequences or None)

    def factory():  # noqa: ANN202
        trk = build_tracker(args.worker, checkpoint=args.checkpoint, config=args.config)
        _set_threads(args.threads)  # torch may have been imported by the tracker
        return trk

    stats = run_sequences(args.root, names, factory, args.results, force=True)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(args.stats_json).write_text(json.dumps({
        "frames": stats.frames, "seconds": stats.seconds, "step_seconds": stats.step_seconds,
        "fps": stats.fps, "step_fps": stats.step_fps, "peak_rss_mib": peak_kib / 1024.0}))
    return 0


def run_one(name: str, args: argparse.Namespace, results: Path) -> dict:
    """Track in a child process, then score; returns the figures of one tracker."""
    from gazevos.eval.davis import evaluate_results

    stats_json = results.parent / f".{results.name}.stats.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--root",
           str(args.root), "--results", str(results), "--stats-json", str(stats_json),
           "--threads", str(args.threads)]
    if args.checkpoint:
        cmd += ["--checkpoint", args.checkpoint]
    if args.config:
        cmd += ["--config", args.config]
    if args.sequences:
        cmd += ["--sequences", *args.sequences]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    load = os.getloadavg()[0]
    subprocess.run(cmd, check=True, env=env)
    load = max(load, os.getloadavg()[0])
    timing = json.loads(stats_json.read_text())
    stats_json.unlink()
    scores = evaluate_results(args.root, results, args.sequences or None)
    return {"summary": scores.summary(), "per_sequence": scores.per_sequence(),
            "timing": timing, "load": load}


def report(label: str, r: dict) -> None:
    s, t = r["summary"], r["timing"]
    print(f"\n== {label}")
    print(f"J&F {s['JF_mean']:.3f} | J {s['J_mean']:.3f} (recall {s['J_recall']:.3f}, decay "
          f"{s['J_decay']:.3f}) | F {s['F_mean']:.3f} (recall {s['F_recall']:.3f}, decay "
          f"{s['F_decay']:.3f})")
    print(f"{t['frames']} frames at 480p: {t['fps']:.1f} frames/s end to end (JPEG read + "
          f"step + PNG write), {t['step_fps']:.1f} frames/s tracker step alone; peak RSS "
          f"{t['peak_rss_mib']:.0f} MiB; 1-min load average up to {r['load']:.1f}")
    ps = r["per_sequence"]
    print("per-sequence J&F: " + ", ".join(f"{q} {v:.3f}" for q, v in
                                            zip(ps["Sequence"], ps["J&F-Mean"], strict=True)))


def update_benchmarks(label: str, r: dict, args: argparse.Namespace) -> None:
    from _leaderboard import update_table

    s, t = r["summary"], r["timing"]
    settings = []
    if args.checkpoint:
        settings.append(f"checkpoint `{args.checkpoint}`")
    if args.config:
        settings.append(f"config `{args.config}`")
    settings.append(f"{args.threads} threads")
    row = [label, *(f"{s[k]:.3f}" for k in ("JF_mean", "J_mean", "F_mean", "J_recall",
                                            "J_decay", "F_recall", "F_decay")),
           f"{t['fps']:.1f}", f"{t['step_fps']:.1f}", f"{t['peak_rss_mib']:.0f}",
           f"{r['load']:.1f}", ", ".join(settings), datetime.date.today().isoformat()]

    def by_score(cells: list[str]) -> float:
        try:
            return -float(cells[1])
        except ValueError:
            return 0.0

    update_table("leaderboard", LEADERBOARD_HEADER, [row], sort_key=by_score)
    ps = r["per_sequence"]
    seqs = list(ps["Sequence"])
    update_table("davis-per-sequence", ["tracker", *seqs],
                 [[label, *(f"{v:.3f}" for v in ps["J&F-Mean"])]])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trackers", nargs="+", default=["copy", "flow"])
    ap.add_argument("--checkpoint", default=None, help="weights for learned trackers")
    ap.add_argument("--config", default=None, help="YAML preset for the trackers' settings")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="DAVIS folder")
    ap.add_argument("--sequences", nargs="+", default=None,
                    help="default: ImageSets/dev.txt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the result masks in KEEP/<tracker> (default: temporary)")
    ap.add_argument("--label", default=None,
                    help="row name in BENCHMARKS.md (one tracker only; default: its name)")
    ap.add_argument("--update-benchmarks", action="store_true",
                    help="write/update this tracker's rows in BENCHMARKS.md")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--results", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--stats-json", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not (args.root / "JPEGImages").is_dir():
        print(f"skipped: no DAVIS data at {args.root} (pass --root)")
        return 0
    if args.label and len(args.trackers) != 1:
        ap.error("--label names one tracker")
    with tempfile.TemporaryDirectory(prefix="davis-bench-") as tmp:
        base = args.keep or Path(tmp)
        for name in args.trackers:
            label = args.label or name
            r = run_one(name, args, base / label)
            report(label, r)
            if args.update_benchmarks:
                update_benchmarks(label, r, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
