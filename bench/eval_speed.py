"""Time the DAVIS evaluator and check it against the official reference scores.

    python bench/eval_speed.py [--root DAVIS] [--results DIR] [--update-benchmarks]

Without ``--results``, copy-first results (the frame-0 mask on every frame) are generated
in a temporary folder.  Prints the time of ``evaluate_results`` with 1 and 2 worker
processes, the wall time of the whole ``gazevos davis eval`` command (a fresh process:
start-up, scoring, tables), and, for copy-first results, the largest absolute difference
from ``reference_copy_first_scores.json`` (official davis2017-evaluation figures), global
and per sequence.  ``--update-benchmarks`` writes the figures into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "davis2016-dev"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--results", type=Path, default=None,
                    help="results to score (default: copy-first, generated)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per setting (best kept)")
    ap.add_argument("--update-benchmarks", action="store_true")
    args = ap.parse_args()
    if not (args.root / "JPEGImages").is_dir():
        print(f"skipped: no DAVIS data at {args.root} (pass --root)")
        return 0
    from gazevos.eval.davis import evaluate_results, resolve_sequences
    from gazevos.eval.runner import run_sequences
    from gazevos.track import build_tracker

    with tempfile.TemporaryDirectory(prefix="eval-speed-") as tmp:
        results = args.results
        if results is None:
            results = Path(tmp) / "copy-first"
            run_sequences(args.root, resolve_sequences(args.root), lambda: build_tracker("copy"),
                          results, progress=False)
        n_frames = sum(len(list((results / s).glob("*.png")))
                       for s in resolve_sequences(args.root))
        times = {}
        scores = None
        for workers in (1, 2):
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                scores = evaluate_results(args.root, results, workers=workers)
                best = min(best, time.perf_counter() - t0)
            times[workers] = best
            print(f"evaluate_results, {workers} worker(s): {best:.2f} s for {n_frames} result "
                  f"frames (best of {args.repeats})")
        # the whole command, as a user runs it (tables written into a scratch copy)
        scratch = Path(tmp) / "cli"
        shutil.copytree(results, scratch, ignore=shutil.ignore_patterns("*.csv"))
        cmd = [sys.executable, "-m", "gazevos.cli", "davis", "eval", "--root", str(args.root),
               "--results", str(scratch)]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        cli_s = time.perf_counter() - t0
        print(f"gazevos davis eval (fresh process, default workers): {cli_s:.2f} s")
        assert json.loads(out.stdout.strip().splitlines()[-1]) == scores.summary()

    rows = [["evaluate_results, 1 worker", f"{times[1]:.1f} s"],
            ["evaluate_results, 2 workers", f"{times[2]:.1f} s"],
            ["`gazevos davis eval` command (fresh process)", f"{cli_s:.1f} s"]]
    ref_path = args.root / "reference_copy_first_scores.json"
    if args.results is None and ref_path.is_file():
        ref = json.loads(ref_path.read_text())
        got = scores.summary()
        d_global = max(abs(got[k] - v) for k, v in ref["global"].items())
        per = scores.per_sequence().set_index("Sequence")
        d_seq = max(max(abs(per.loc[s, "J-Mean"] - v["J_mean"]),
                        abs(per.loc[s, "F-Mean"] - v["F_mean"]))
                    for s, v in ref["per_sequence"].items())
        print(f"copy-first vs official reference: max |diff| global {d_global:.2e}, "
              f"per sequence {d_seq:.2e}")
        rows.append(["max abs difference from the official reference (copy-first), global",
                     f"{d_global:.1e}"])
        rows.append(["max abs difference from the official reference (copy-first), "
                     "per sequence J and F", f"{d_seq:.1e}"])
    if args.update_benchmarks:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _leaderboard import update_table

        load = os.getloadavg()[0]
        rows = [[r[0], r[1], f"{n_frames} frames, load avg {load:.1f}, "
                 f"{datetime.date.today().isoformat()}"] for r in rows]
        update_table("davis-eval", ["measure", "value", "notes"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
