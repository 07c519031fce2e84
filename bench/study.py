"""Benchmark of ``gazevos study``: a six-recording study, serial against a Dask LocalCluster.

Writes six synthetic recordings (``make_demo_sample``, seeds 0-5), then runs the same study

1. serially in this process (``run_study(serial=True)``),
2. on a ``LocalCluster`` with ``--workers`` processes (one thread each): the cluster's start,
   the workers' imports (torch, OpenCV, I2MC, gazevos: done once per worker process, timed
   with ``client.run``) and the study's run are timed apart (the serial run's imports too),

checks that both give the same tables, and measures the scheduling overhead per task two
ways: the round trip of ``--noop`` empty tasks on the same cluster (submit + gather, divided
by their number), and the cluster run's worker time not spent inside the tasks
(``workers x run wall - sum of in-task walls``, divided by the tasks; this includes the idle
tail when tasks do not divide evenly among workers).  Prints one JSON line.

    python bench/study.py [--recordings 6] [--size 320x180] [--seconds 4] [--tracker flow]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _noop(i: int) -> int:
    return i


def _warm() -> float:
    """Import what a task imports (torch, OpenCV, I2MC, ...); returns the seconds taken."""
    t = time.perf_counter()
    import I2MC  # noqa: F401
    import torch  # noqa: F401

    import gazevos.gaze.annotate  # noqa: F401
    import gazevos.gaze.aoi_tables  # noqa: F401
    import gazevos.track  # noqa: F401
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=int, default=6)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--tracker", default="flow")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--noop", type=int, default=200)
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    args = ap.parse_args()

    import pandas as pd
    from distributed import Client, LocalCluster

    from gazevos.gaze.demo import make_demo_sample
    from gazevos.study.runner import run_study

    w, h = (int(v) for v in args.size.lower().split("x"))
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-study-"))
    lines = []
    for i in range(args.recordings):
        s = make_demo_sample(work / f"rec{i}", width=w, height=h, duration=args.seconds, seed=i)
        lines.append(f"  - {{path: rec{i}, participant: p{i}, condition: {'AB'[i % 2]}}}")
    study = work / "study.yaml"
    study.write_text(f"settings: {{tracker: {args.tracker}, video: false}}\n"
                     f"defaults: {{boxes: {list(s.boxes)}, points: {list(s.points)}}}\n"
                     "recordings:\n" + "\n".join(lines) + "\n")

    serial_warm_s = _warm()
    t = time.perf_counter()
    serial = run_study(study, work / "serial", serial=True, progress=False)
    serial_s = time.perf_counter() - t
    assert serial.n_done == args.recordings, serial.errors

    t = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    client.wait_for_workers(args.workers)
    start_s = time.perf_counter() - t
    try:
        t = time.perf_counter()
        client.run(_warm)
        warm_s = time.perf_counter() - t
        t = time.perf_counter()
        dist = run_study(study, work / "cluster", client=client, progress=False)
        dist_s = time.perf_counter() - t
        assert dist.n_done == args.recordings, dist.errors
        t = time.perf_counter()
        client.gather(client.map(_noop, range(args.noop), pure=False))
        noop_ms = (time.perf_counter() - t) / args.noop * 1e3
    finally:
        client.close()
        cluster.close()
    for name in ("study_aoi_metrics", "group_metrics"):
        pd.testing.assert_frame_equal(pd.read_parquet(work / "serial" / "tables" /
                                                      f"{name}.parquet"),
                                      pd.read_parquet(work / "cluster" / "tables" /
                                                      f"{name}.parquet"))
    in_task = sum(dist.task_seconds.values())
    print(json.dumps({
        "recordings": args.recordings, "size": args.size, "seconds": args.seconds,
        "tracker": args.tracker, "workers": args.workers, "cores": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "serial_wall_s": round(serial_s, 2),
        "serial_in_task_s": round(sum(serial.task_seconds.values()), 2),
        "serial_import_s": round(serial_warm_s, 2),
        "cluster_start_s": round(start_s, 2), "cluster_import_s": round(warm_s, 2),
        "cluster_run_wall_s": round(dist_s, 2),
        "cluster_total_s": round(start_s + warm_s + dist_s, 2),
        "cluster_in_task_s": round(in_task, 2),
        "speedup_run": round(serial_s / dist_s, 2),
        "speedup_total": round((serial_warm_s + serial_s) / (start_s + warm_s + dist_s), 2),
        "noop_task_roundtrip_ms": round(noop_ms, 2),
        "idle_worker_s_per_task": round((args.workers * dist.run_seconds - in_task)
                                        / args.recordings, 2),
        "same_tables": True}))


if __name__ == "__main__":
    main()
