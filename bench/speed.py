"""``annotate`` end to end on a looped real recording: frames/s overall and per stage.

    python bench/speed.py --resolution 1920x1080 --seconds 20 --objects 2
    python bench/speed.py --resolution 1600x1200 --objects 3 --track-rate 0   # every frame
    python bench/speed.py ... --json results.json                              # append a row

The recording is real Tobii Glasses 3 footage looped to the asked length, size and frame
rate (``bench/_looped.py``; cached under ``--cache``).  The objects are boxes on frame 0
(person, drip bag, chairs, ...).  The run is ``gazevos.gaze.annotate.annotate`` with the
default settings (overlay video, report and AOI tables included) and the default tracker.

Printed per stage:

* ``decode``: a separate decode-only pass over the video (PyAV, as annotate reads it);
* the tracker's stages (``Tracker.seconds``: features, flow, prior, classifier, fusion,
  aggregate/upsample, memorize), per *tracked* frame;
* ``write``: CPU time of the mask-writing thread; ``after tracking`` (what the gaze
  mapping and overlay video, which trail the tracker, still took when it ended), ``gaze``,
  ``outputs`` (report), ``aoi``: wall time of the stages after tracking;
* CPU per frame by thread (sampled from ``/proc/self/task`` every 0.2 s): the tracker
  (``MainThread``), decoding and lookahead (``gazevos-decode``), mask writing
  (``gazevos-write``), fixation detection (``gazevos-gaze``), the trailing gaze mapping,
  overlay drawing, decoding and encoding (``gazevos-trail-*``), FFmpeg's decoder threads
  (``av:h264:*``), OpenCV's pool (``python``); "other" is mostly the classifier fits,
  one short-lived thread each.

frames/s end to end = video frames / wall time of the whole ``annotate`` call.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402

from _looped import boxes  # noqa: E402
from gazevos.gaze.annotate import AnnotateConfig, annotate  # noqa: E402
from gazevos.gaze.prompts import build_prompts  # noqa: E402
from gazevos.io import open_frames  # noqa: E402
from gazevos.io.rundir import staging_path  # noqa: E402
from gazevos.runtime import configure_threads  # noqa: E402
from gazevos.track import build_tracker  # noqa: E402


def decode_fps(video: Path) -> tuple[float, float]:
    """(frames/s wall, CPU ms per frame) of decoding every frame to RGB."""
    t, c, n = time.perf_counter(), time.process_time(), 0
    for _ in open_frames(video):
        n += 1
    return n / (time.perf_counter() - t), 1000 * (time.process_time() - c) / max(n, 1)


def _rss_mib() -> float:
    """Resident set size of this process now, MiB (Linux; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _sample(out: Path, t0: float, timeline: list, done: threading.Event,
            every: float = 5.0) -> None:
    """Every ``every`` s: (seconds, masks written so far, RSS MiB) into ``timeline``."""
    stage = staging_path(out) / "masks"
    while not done.wait(every):
        try:
            n = sum(1 for _ in os.scandir(stage))
        except OSError:
            n = -1          # tracking finished (the stage moved) or not begun
        timeline.append((round(time.perf_counter() - t0, 1), n, round(_rss_mib(), 1)))


def _thread_cpu(cpu: dict, done: threading.Event, every: float = 0.2) -> None:
    """Every ``every`` s: CPU seconds of each live thread of this process, by thread name
    (Linux ``/proc/self/task``; threads shorter than ``every`` are mostly missed: their
    time shows in the process total only)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    names: dict[int, str] = {}
    while not done.wait(every):
        names.update({t.native_id: t.name for t in threading.enumerate()
                      if t.native_id is not None})
        try:
            tasks = os.listdir("/proc/self/task")
        except OSError:
            return
        for tid in tasks:
            try:
                stat = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
            except OSError:
                continue
            name = names.get(int(tid), comm)
            names.setdefault(int(tid), name)
            cpu[int(tid)] = (name, (int(stat[11]) + int(stat[12])) / tick)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--resolution", default="1920x1080")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--objects", type=int, default=2, choices=range(1, 9))
    ap.add_argument("--tracker", default="classic")
    ap.add_argument("--track-rate", type=float, default=AnnotateConfig.track_rate)
    ap.add_argument("--no-video", action="store_true", help="no overlay video")
    ap.add_argument("--threads", type=int, default=None, help="gazevos --threads")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "gazevos-speed"))
    ap.add_argument("--json", default=None, help="append the result row to this JSON file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a tracker setting (YAML value), repeatable")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.set)}
    configure_threads(args.threads)
    w, h = (int(v) for v in args.resolution.lower().split("x"))
    rec = Path(args.cache) / f"{w}x{h}-{args.seconds:g}s-{args.fps:g}fps"
    if not (rec / ".done").is_file():   # made in a child process: its memory is not ours
        subprocess.run([sys.executable, str(Path(__file__).with_name("_looped.py")),
                        args.shared, str(rec), str(w), str(h), str(args.seconds),
                        str(args.fps)], check=True)
    dec_fps, dec_ms = decode_fps(rec / "scenevideo.mp4")
    prompts = build_prompts(boxes=boxes(args.objects, (w, h)))
    trk = build_tracker(args.tracker, **overrides)
    out = Path(tempfile.mkdtemp(prefix="gazevos-speed-out-")) / "run"
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    timeline: list[tuple[float, int, float]] = []
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(out, t0, timeline, done), daemon=True)
    sampler.start()
    per_thread: dict[int, tuple[str, float]] = {}
    cpu_sampler = threading.Thread(target=_thread_cpu, args=(per_thread, done), daemon=True)
    cpu_sampler.start()
    res = annotate(rec, prompts, out, tracker=trk, config=AnnotateConfig(
        track_rate=args.track_rate, video=not args.no_video), progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done.set()
    sampler.join()
    cpu_sampler.join()
    threads: dict[str, float] = {}
    for name, sec in per_thread.values():
        if sec > 0:
            threads[name] = threads.get(name, 0.0) + sec
    load = max(load0, os.getloadavg()[0])
    tj = json.loads((out / "tracking.json").read_text())
    shutil.rmtree(out.parent, ignore_errors=True)
    n = res.n_frames
    stride = tj.get("stride", 1)
    tracked = -(-n // stride)
    stages = {k: 1000 * v / tracked for k, v in trk.seconds.items()}
    if "object" in stages:     # object = classifier + fusion and clean-up
        stages["fusion"] = stages.pop("object") - stages.get("classifier", 0.0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"resolution": f"{w}x{h}", "settings": overrides, "fps_video": args.fps, "frames": n,
           "objects": args.objects, "tracker": args.tracker, "stride": stride,
           "fps_end_to_end": n / wall, "fps_tracking_pass": n / res.track_seconds,
           "cpu_ms_per_frame": 1000 * cpu / n, "decode_fps": dec_fps, "decode_cpu_ms": dec_ms,
           "tracker_ms_per_tracked_frame": stages,
           # frames the tracker carried by the flow alone (classic: skip_agreement ...)
           "carried_fraction": getattr(trk, "carried", 0) / tracked,
           "write_cpu_ms": 1000 * tj.get("cpu_seconds", {}).get("write", 0.0) / n,
           "after_tracking_s": {k: v for k, v in res.timings.items() if k != "track"},
           # CPU ms per frame by thread (named threads; the rest: short-lived threads such
           # as classic's classifier fits, and the time before the first sample)
           "thread_cpu_ms": {k: 1000 * v / n for k, v in sorted(threads.items(),
                                                                key=lambda kv: -kv[1])},
           "peak_rss_mib": rss, "load_avg": load, "date": time.strftime("%Y-%m-%d"),
           "timeline": timeline}
    print(f"{w}x{h} {args.fps:g} frames/s, {n} frames, {args.objects} object(s), tracker "
          f"{args.tracker}, stride {stride}")
    print(f"  end to end {row['fps_end_to_end']:.1f} frames/s ({wall:.1f} s; "
          f"{row['cpu_ms_per_frame']:.0f} ms CPU per frame); tracking pass "
          f"{row['fps_tracking_pass']:.1f} frames/s; peak RSS {rss:.0f} MiB; load {load:.1f}")
    print(f"  decode alone {dec_fps:.0f} frames/s ({dec_ms:.1f} ms CPU per frame); "
          f"mask writing {row['write_cpu_ms']:.1f} ms CPU per frame (own thread)")
    print("  tracker, ms per tracked frame: "
          + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
          + f"; carried by the flow alone: {row['carried_fraction']:.0%} of them")
    named = row["thread_cpu_ms"]
    print("  CPU ms per frame by thread: "
          + ", ".join(f"{k} {v:.1f}" for k, v in named.items() if v >= 0.5)
          + f"; other (short-lived threads: classifier fits, ...) "
            f"{row['cpu_ms_per_frame'] - sum(named.values()):.1f}")
    print("  after tracking, s: "
          + ", ".join(f"{k} {v:.1f}" for k, v in row["after_tracking_s"].items()))
    if args.json:
        path = Path(args.json)
        rows = json.loads(path.read_text()) if path.is_file() else []
        rows.append(row)
        path.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
