"""Studio latencies at 1080p: mask preview, frame on screen, re-track of a correction.

Makes a synthetic 1920x1080 recording (``make_demo_sample``), opens a studio project on it
and measures, through the HTTP layer (Starlette's in-process client: decode, JPEG encoding
and the response, no network):

* **preview**: ``POST /api/preview`` of a point (the ball) and of a box (the book), on the
  frame scaled to ``PREVIEW_MAX_SIDE`` (what the studio does) and at full size;
* **frame on screen**: ``GET /api/frame/{i}`` at random positions (cold: cache emptied
  before each) and stepping one frame forward from a random position;
* **re-track**: keyframes at 0 and ``--stretch``; a correction at the middle; the time
  to re-track its affected range (``affected_range``: the frames between the two
  keyframes, tracked in both directions and fused).

Usage: python bench/studio_latency.py [--seconds 4] [--size 1920x1080]
       [--trackers flow classic] [--stretch 60] [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path


class Timer:
    """Wall and CPU (all threads of this process) seconds of a block, collected."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall.append(time.perf_counter() - self._w)
        self.cpu.append(time.process_time() - self._c)

    def __str__(self) -> str:
        def ms(v: list[float]) -> str:
            return f"{statistics.median(v) * 1000:6.0f}"
        s = sorted(self.wall)
        p90 = s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]
        return (f"wall median {ms(self.wall)} ms, p90 {p90 * 1000:6.0f} ms; CPU median "
                f"{ms(self.cpu)} ms (n={len(s)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--trackers", nargs="+", default=["flow"])
    ap.add_argument("--stretch", type=int, default=60,
                    help="frames between the two keyframes around the correction")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--sample", default=None,
                    help="write the sample here (kept) instead of a temporary folder")
    args = ap.parse_args()

    from starlette.testclient import TestClient

    from gazevos.gaze.demo import make_demo_sample
    from gazevos.io.masks import read_mask
    from gazevos.studio import service
    from gazevos.studio.app import create_app

    w, h = (int(v) for v in args.size.lower().split("x"))
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="gazevos-bench-studio-") as tmp:
        t = time.perf_counter()
        where = Path(args.sample) if args.sample else Path(tmp) / "rec"
        sample = make_demo_sample(where, w, h, duration=args.seconds)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"sample: {sample.size[0]}x{sample.size[1]}, {sample.n_frames} frames "
              f"({time.perf_counter() - t:.0f} s to make)")
        st = service.open_studio(sample.root, Path(tmp) / "project", tracker=args.trackers[0])
        app = create_app(st, "t", {"testserver"})
        client = TestClient(app, headers={"x-gazevos-token": "t"})
        st.project.add_object("book")
        st.project.add_object("ball")

        # ---- preview
        bf = sample.ball_frame
        bx, by = (float(v) for v in sample.points[0].split(":")[1].split("@")[0].split(","))
        book = [float(v) for v in sample.boxes[1].split(":")[1].split("@")[0].split(",")]
        truth_ball = read_mask(sample.truth_dir / f"{bf:05d}.png") == 3
        for label, body, truth in (
                ("point", {"frame": bf, "object_id": 2, "points": [[bx, by, 1]]}, truth_ball),
                ("box", {"frame": 0, "object_id": 1, "box": book}, None)):
            client.post("/api/preview", json=body)  # frame decoded and cached
            times = Timer()
            for _ in range(args.repeats):
                with times:
                    client.post("/api/preview", json=body)
            print(f"preview {label:5s} (scaled to {service.PREVIEW_MAX_SIDE} px, HTTP): {times}")
            full = Timer()
            for _ in range(max(2, args.repeats // 3)):
                with full:
                    mask = service.prompt_mask(st.frame(body["frame"]),
                                               service.Prompt.from_json(body), max_side=1 << 20)
            print(f"preview {label:5s} (full size, no HTTP):       {full}")
            if truth is not None:
                small = service.prompt_mask(st.frame(bf), service.Prompt.from_json(body))
                print(f"  IoU with the true ball: scaled {_iou(small, truth):.3f}, "
                      f"full {_iou(mask, truth):.3f}")

        # ---- frames
        n = st.n_frames
        cold = Timer()
        for _ in range(args.repeats * 2):
            i = rng.randrange(n)
            st.frames.close()  # empty the cache: a cold seek
            with cold:
                r = client.get(f"/api/frame/{i}")
            assert r.status_code == 200
        print(f"frame on screen, random position (cold): {cold}")
        step = Timer()
        for _ in range(max(1, args.repeats // 5)):
            i = rng.randrange(n - 30)
            client.get(f"/api/frame/{i}")
            for j in range(i + 1, i + 25):
                with step:
                    client.get(f"/api/frame/{j}")
        print(f"frame on screen, one frame forward:      {step}")
        back = Timer()
        i = rng.randrange(30, n)
        client.get(f"/api/frame/{i}")
        for j in range(i - 1, i - 25, -1):
            with back:
                client.get(f"/api/frame/{j}")
        print(f"frame on screen, one frame back:         {back}")

        # ---- re-track of a correction
        a, b = 0, min(args.stretch, n - 1)
        for name in args.trackers:
            st.project.set_meta("tracker", name)
            for f in (a, b):
                box = [float(v) for v in
                       _box(read_mask(sample.truth_dir / f"{f:05d}.png") == 2)]
                service.set_keyframe(st, f, 1, service.Prompt(box=tuple(box)))
            k = (a + b) // 2
            box = _box(read_mask(sample.truth_dir / f"{k:05d}.png") == 2)
            span = service.set_keyframe(st, k, 1, service.Prompt(box=tuple(float(v) for v in box)))
            tt = Timer()
            with tt:
                service.track(st, span)
            print(f"re-track of a correction at {k} ({name}): frames {span[0]}..{span[1] - 1} "
                  f"({span[1] - span[0]} frames, tracked in both directions): wall "
                  f"{tt.wall[0]:.1f} s, CPU {tt.cpu[0]:.1f} s")
            st.project.delete_keyframe(k)
        st.project.close()


def _iou(a, b) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _box(mask) -> tuple[int, int, int, int]:
    import numpy as np

    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() + 1), int(ys.max() + 1)


if __name__ == "__main__":
    main()
