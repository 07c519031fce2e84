"""Frame access latency for scrubbing: 1080p frames at random positions and one-frame steps
forward and backward (``gazevos.io.frame_reader.VideoFrameReader``), and memory on a
one-hour video.

    python bench/frame_access.py [--source scenevideo.mp4] [--work DIR] [--rounds 3]
        [--gops 16 250] [--threads AUTO SLICE] [--hour-size 192x108] [--also VIDEO ...]

Makes (once, cached in ``--work``):

* ``loop-1080p-g<G>.mp4``: the real Tobii Glasses 3 scene video (1920x1080, 25 frames/s,
  133 frames) played forward and backward in a loop to ``--loop-frames`` (500: 20 s), H.264 with a
  keyframe every G frames (16: what the Tobii G3 writes; 250: x264's default, e.g. a
  re-encoded export);
* ``hour-<size>.mp4``: a synthetic one-hour video (90 000 frames at 25/s; small frames so
  that it encodes in minutes: the reader's index grows with the frame count, its cache is
  bounded in bytes whatever the size).

Then, in a fresh process per video and decoder threading (so peak RSS is the reader's):
``--rounds`` rounds, alternating the videos, of 30 random positions (cache emptied first, so
every one is a seek + decode), 30 single steps forward from random positions and 30 single
steps backward (each from a position just read, as the arrow keys do).  Prints median and
p95 latency per kind, the JPEG encoding time of a frame (PIL, quality 85: what a browser
would be sent), the time to open (index) the video and the peak RSS.  The machine is shared:
compare medians of alternated rounds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = (REPO.parent / "shared" / "data" / "recordings" / "tobii-g3-room-1"
                  / "scenevideo.mp4")


def make_loop(source: Path, out: Path, gop: int, frames: int = 1500) -> None:
    """Ping-pong loop of ``source`` to ``frames`` frames, H.264 with keyframes every ``gop``."""
    import av

    from gazevos.io.video import iter_video

    clip = [f for f, _ in iter_video(source)]
    order = list(range(len(clip))) + list(range(len(clip) - 2, 0, -1))
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(tmp), mode="w") as c:
        s = c.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = clip[0].shape[1], clip[0].shape[0], "yuv420p"
        s.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                     "preset": "veryfast", "crf": "23"}
        for t in range(frames):
            img = clip[order[t % len(order)]]
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.rename(out)


def make_hour(out: Path, width: int, height: int, seconds: int = 3600) -> None:
    """A synthetic video: a moving gradient with the frame number as a bar code."""
    import av

    tmp = out.with_suffix(".part.mp4")
    x = np.arange(width, dtype=np.int32)[None, :]
    y = np.arange(height, dtype=np.int32)[:, None]
    with av.open(str(tmp), mode="w") as c:
        s = c.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"g": "50", "preset": "ultrafast", "crf": "30"}
        for t in range(seconds * 25):
            img = np.empty((height, width, 3), np.uint8)
            img[..., 0] = (x + t) % 256
            img[..., 1] = (y + 2 * t) % 256
            img[..., 2] = (t // 25) % 256
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.rename(out)


def measure(path: Path, threads: str, rounds_seed: int, n: int) -> dict:
    """One round on one video in this process: latencies in ms."""
    from PIL import Image

    from gazevos.io.frame_reader import VideoFrameReader

    t0 = time.perf_counter()
    reader = VideoFrameReader(path, threads=threads)
    open_s = time.perf_counter() - t0
    rng = np.random.default_rng(rounds_seed)
    total = len(reader)
    lat: dict[str, list[float]] = {"random": [], "step_forward": [], "step_backward": [],
                                   "jpeg": []}
    cpu: dict[str, list[float]] = {k: [] for k in lat}

    def timed(kind: str, fn: Callable[[], object]) -> object:
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        lat[kind].append(1e3 * (time.perf_counter() - t))
        cpu[kind].append(1e3 * (time.process_time() - c))
        return out

    for _ in range(n):
        i = int(rng.integers(1, total - 1))
        reader.close()  # empty cache: a true seek
        img = timed("random", lambda i=i: reader.get(i))
        timed("jpeg", lambda img=img: Image.fromarray(img).save(io.BytesIO(), format="JPEG",
                                                                 quality=85))
        timed("step_forward", lambda i=i: reader.get(i + 1))
    for _ in range(n):  # backward steps: a run of left-arrow presses from a random frame
        i = int(rng.integers(40, total))
        reader.close()
        reader.get(i)
        for k in range(1, 11):
            timed("step_backward", lambda i=i, k=k: reader.get(i - k))
    # a long sweep across the whole video, to see the cache stay bounded
    sweep = np.linspace(0, total - 1, 200).astype(int)
    for i in sweep:
        reader.get(int(i))
    return {"open_s": open_s, "frames": total, "lat": lat, "cache_bytes": reader.cache_bytes,
            "shape": list(reader.shape or ()),
            "maxrss_mib": _peak_rss_mib(), "cpu_ms": cpu}


def _peak_rss_mib() -> float:
    """Peak RSS of this process (``VmHWM``; ``ru_maxrss`` keeps the parent's peak across
    fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stats(v: list[float]) -> str:
    a = np.asarray(v)
    return f"{np.median(a):.1f} / {np.percentile(a, 95):.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=str(DEFAULT_SOURCE))
    ap.add_argument("--work", default="/tmp/gazevos-bench-frames")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--gops", type=int, nargs="+", default=[16, 250])
    ap.add_argument("--loop-frames", type=int, default=500)
    ap.add_argument("--threads", nargs="+", default=["AUTO"])
    ap.add_argument("--only", nargs="*", help="measure only these made videos (file names)")
    ap.add_argument("--also", nargs="*", default=[],
                    help="existing videos to measure as they are (e.g. a Neon scene video)")
    ap.add_argument("--hour-size", default="192x108")
    ap.add_argument("--no-hour", action="store_true")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.threads[0], args.seed, args.n)))
        return 0
    source = Path(args.source)
    if not source.is_file():
        print(f"no source video at {source}; nothing measured")
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    videos = []
    for g in args.gops:
        v = work / f"loop-1080p-g{g}-n{args.loop_frames}.mp4"
        if not v.exists():
            t = time.perf_counter()
            make_loop(source, v, g, args.loop_frames)
            print(f"made {v.name} in {time.perf_counter() - t:.0f} s", flush=True)
        videos.append(v)
    if not args.no_hour:
        w, h = (int(x) for x in args.hour_size.split("x"))
        v = work / f"hour-{w}x{h}.mp4"
        if not v.exists():
            t = time.perf_counter()
            make_hour(v, w, h)
            print(f"made {v.name} in {time.perf_counter() - t:.0f} s", flush=True)
        videos.append(v)
    if args.only is not None:
        videos = [v for v in videos if v.name in args.only]
    videos += [Path(v) for v in args.also]
    results: dict[tuple[str, str], list[dict]] = {}
    for r in range(args.rounds):
        for v in videos:
            for th in args.threads:
                out = subprocess.run([sys.executable, __file__, "--measure", str(v),
                                      "--threads", th, "--seed", str(r), "--n", str(args.n)],
                                     capture_output=True, text=True, check=True)
                results.setdefault((v.name, th), []).append(json.loads(out.stdout))
                print(f"round {r} {v.name} {th} done", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{args.rounds} alternated rounds; latency ms median / p95")
    print("| video | frames | threads | open s | random seek | step forward | "
          "step backward | JPEG q85 | CPU ms (seek / fwd / back / JPEG, median) | cache MiB "
          "| peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (name, th), rs in results.items():
        lat = {k: sum((x["lat"][k] for x in rs), []) for k in rs[0]["lat"]}
        cpu = {k: sum((x["cpu_ms"][k] for x in rs), []) for k in rs[0]["cpu_ms"]}
        print(f"| {name} ({'x'.join(map(str, rs[0]['shape'][1::-1]))}) | {rs[0]['frames']} | "
              f"{th} | {np.median([x['open_s'] for x in rs]):.2f} | "
              f"{_stats(lat['random'])} | {_stats(lat['step_forward'])} | "
              f"{_stats(lat['step_backward'])} | {_stats(lat['jpeg'])} | "
              f"{' / '.join(f'{np.median(cpu[k]):.0f}' for k in cpu)} | "
              f"{max(x['cache_bytes'] for x in rs) / 2**20:.0f} | "
              f"{max(x['maxrss_mib'] for x in rs):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
