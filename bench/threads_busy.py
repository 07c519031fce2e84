"""Bench: tracker speed with and without a second CPU-busy process, per thread setting.

Each measurement is a fresh process (thread settings are process-wide, and OpenMP reads its
wait policy once, when loaded) that tracks the first ``--frames`` frames of a DAVIS dev
sequence (one object; frames and masks as in ``bench/mast_speed.py``) and reports the mean
``Tracker.step`` wall time from frame ``--skip`` on.  The load is one ``while True: pass``
process per available core, started before and stopped after each loaded measurement.

Modes: ``now`` sets threads through :func:`gazevos.runtime.configure_threads` before torch
is imported, as ``gazevos --threads N`` does ("default": ``configure_threads(None)``);
``before`` does what the code did before it (``torch.set_num_threads`` and
``cv2.setNumThreads`` only, OpenMP's default wait policy; "default": nothing set).
Configurations are alternated within each of ``--repeats`` rounds; the table gives the
median and range of frames/s.

    python bench/threads_busy.py [--tracker ranet] [--set online_steps=0] [--repeats 3]
    python bench/threads_busy.py --tracker classic --set
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(args: argparse.Namespace) -> int:
    """One measurement in this process: print a JSON line with frames/s and CPU/frame."""
    threads = None if args.threads[0] == "default" else int(args.threads[0])
    if args.mode == "now":
        from gazevos.runtime import configure_threads

        configure_threads(threads)
    else:
        import cv2
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
            cv2.setNumThreads(threads)
    import numpy as np
    import yaml

    sys.path.insert(0, str(HERE))
    from gazevos.io import open_frames, read_mask
    from gazevos.track import build_tracker
    from mast_speed import DAVIS, split_objects

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    seq = DAVIS / "JPEGImages" / "480p" / args.sequence
    frames = [f.image for _, f in zip(range(args.frames), open_frames(seq), strict=False)]
    first = split_objects(read_mask(DAVIS / "Annotations" / "480p" / args.sequence
                                    / "00000.png") > 0, 1)
    trk = build_tracker(args.tracker, **overrides)
    wall, cpu = [], []
    for i, img in enumerate(frames):
        t0, c0 = time.perf_counter(), time.process_time()
        trk.step(img, mask=first if i == 0 else None)
        if i >= args.skip:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    import torch

    print(json.dumps({"fps": 1.0 / float(np.mean(wall)), "cpu_ms": 1000 * float(np.mean(cpu)),
                      "torch_threads": torch.get_num_threads(),
                      "wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}), flush=True)
    return 0


def start_load(n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` processes spinning one core each."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the processes of :func:`start_load`."""
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def measure(args: argparse.Namespace, mode: str, threads: str, busy: bool) -> dict[str, float]:
    """Run one :func:`worker` in a child process (under load when ``busy``)."""
    cmd = [sys.executable, __file__, "--worker", "--mode", mode, "--threads", threads,
           "--tracker", args.tracker, "--sequence", args.sequence, "--frames", str(args.frames),
           "--skip", str(args.skip), "--set", *args.set]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "OPENBLAS_NUM_THREADS", "GAZEVOS_THREADS")}
    load = start_load(args.load) if busy else []
    try:
        time.sleep(0.5 if busy else 0.0)
        out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                             timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"fps": float("nan"), "cpu_ms": float("nan"), "load": os.getloadavg()[0]}
    finally:
        stop_load(load)
    if out.returncode:
        raise SystemExit(f"worker failed ({' '.join(cmd)}):\n{out.stderr}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["load"] = os.getloadavg()[0]
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracker", default="ranet")
    ap.add_argument("--set", nargs="*", default=["online_steps=0"],
                    help="tracker settings, NAME=VALUE (default skips ranet's adaptation)")
    ap.add_argument("--sequence", default="dog")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--skip", type=int, default=5, help="first frames not timed")
    ap.add_argument("--threads", nargs="*", default=["default", "1", "2"])
    ap.add_argument("--modes", nargs="*", default=["before", "now"], choices=["before", "now"])
    ap.add_argument("--loads", nargs="*", default=["idle", "busy"], choices=["idle", "busy"])
    ap.add_argument("--load", type=int, default=len(os.sched_getaffinity(0))
                    if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
                    help="spinning processes of the busy case (default: one per core)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per measurement")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="now", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    cases = [(load, mode, t) for load in args.loads for mode in args.modes for t in args.threads]
    results: dict[tuple[str, str, str], list[dict[str, float]]] = {c: [] for c in cases}
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.tracker} "
          f"{' '.join(args.set)}, {args.sequence} frames {args.skip}-{args.frames - 1}, "
          f"busy = {args.load} spinning processes", flush=True)
    for r in range(args.repeats):
        for case in cases:
            res = measure(args, case[1], case[2], case[0] == "busy")
            results[case].append(res)
            print(f"round {r + 1}: {case[0]:4} {case[1]:6} threads {case[2]:7} "
                  f"{res['fps']:6.2f} frames/s, {res['cpu_ms']:6.0f} ms CPU/frame, "
                  f"load {res['load']:.1f}", flush=True)
    print("\n| load | mode | threads | frames/s median (range) | CPU ms/frame median | "
          "load avg |\n| --- | --- | --- | --- | --- | --- |")
    bound = (args.frames - args.skip) / args.timeout  # a timed-out run was slower than this
    for case, rs in results.items():
        fps = sorted(x["fps"] if x["fps"] == x["fps"] else 0.0 for x in rs)  # timeouts first
        done = [f for f in fps if f > 0.0]
        med = statistics.median(fps)
        shown = f"{med:.2f}" if med > 0.0 else f"< {bound:.2f}"
        rng = f"{min(done):.2f}-{max(done):.2f}" if done else ""
        if len(done) < len(fps):
            rng += f"{', ' if rng else ''}{len(fps) - len(done)} of {len(fps)} over " \
                   f"{args.timeout:.0f} s"
        cpu = [x["cpu_ms"] for x in rs if x["cpu_ms"] == x["cpu_ms"]]
        loads = [x["load"] for x in rs]
        print(f"| {case[0]} | {case[1]} | {case[2]} | {shown} ({rng}) | "
              f"{f'{statistics.median(cpu):.0f}' if cpu else '-'} | "
              f"{min(loads):.1f}-{max(loads):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
