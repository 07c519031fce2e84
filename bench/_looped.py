"""A long Tobii-Glasses-3 recording looped from real footage, for the speed benchmarks.

``looped_recording(shared, out, size, seconds, fps)`` writes ``out/scenevideo.mp4`` (H.264)
and ``out/gazedata.gz`` in the Glasses 3 SD-card layout: the 133 frames of
``../shared/data/recordings/tobii-g3-room-1`` (1920x1080, 25 fps, a hospital room, a moving
head camera) played forwards and backwards (ping-pong, so there is no cut), resized to
``size`` and re-timed to ``fps``.  The gaze follows the same ping-pong mapping of time, so
gaze and video stay in step.  Finished recordings are reused (``out/.done``).

``BOXES`` are eight objects on frame 0 at 1920x1080 (person, armchair, white seat, chair,
drip bag, laptop, clock, drip-stand hooks), scaled to other sizes by :func:`boxes`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import av
import cv2
import numpy as np

SOURCE = Path("data") / "recordings" / "tobii-g3-room-1"
BOXES = (  # the first three give a good box mask at every size (the bag fails at 480p)
    ("person", (720, 590, 1260, 1080)), ("armchair", (1400, 540, 1600, 810)),
    ("seat", (1650, 780, 1920, 1080)), ("chair", (1170, 555, 1310, 740)),
    ("bag", (700, 260, 920, 600)), ("laptop", (580, 820, 780, 1040)),
    ("clock", (0, 920, 220, 1080)), ("hooks", (390, 200, 840, 400)),
)


def boxes(n: int, size: tuple[int, int]) -> list[str]:
    """The first ``n`` objects as ``--box`` strings (``name:x0,y0,x1,y1@0``) at ``size``."""
    sx, sy = size[0] / 1920, size[1] / 1080
    return [f"{name}:{round(x0 * sx)},{round(y0 * sy)},{round(x1 * sx)},{round(y1 * sy)}@0"
            for name, (x0, y0, x1, y1) in BOXES[:n]]


def _pingpong(u: np.ndarray | float, n: int) -> np.ndarray:
    """Position in a clip of ``n`` frames after ``u`` frames of ping-pong play."""
    period = 2 * (n - 1)
    r = np.mod(u, period)
    return np.where(r <= n - 1, r, period - r)


def looped_recording(shared: Path, out: Path, size: tuple[int, int], seconds: float,
                     fps: float = 30.0) -> Path:
    """Write (or reuse) a looped recording of ``seconds`` at ``size`` ``(w, h)`` and ``fps``."""
    out = Path(out)
    if (out / ".done").is_file():
        return out
    src = Path(shared) / SOURCE
    if not (src / "scenevideo.mp4").is_file():
        raise SystemExit(f"no Tobii sample at {src}")
    out.mkdir(parents=True, exist_ok=True)
    with av.open(str(src / "scenevideo.mp4")) as c:
        stream = c.streams.video[0]
        src_fps = float(stream.average_rate or 25)
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
                  for f in c.decode(stream)]
    n = len(frames)
    total = round(seconds * fps)
    with av.open(str(out / "scenevideo.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=round(fps))
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"crf": "23", "preset": "veryfast", "g": str(round(2 * fps))}
        for k in range(total):
            # the source's frame at this play position (src frames step at fps/src_fps)
            i = int(round(float(_pingpong(k * src_fps / fps, n))))
            vf = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            vf.pts = k
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    lines = [json.loads(x) for x in gzip.open(src / "gazedata.gz", "rt") if x.strip()]
    gaze = [x for x in lines if x.get("type") == "gaze" and x.get("data", {}).get("gaze2d")]
    t_src = np.array([g["timestamp"] for g in gaze])
    xy = np.array([g["data"]["gaze2d"] for g in gaze], dtype=float)
    rate = 50.0
    with gzip.open(out / "gazedata.gz", "wt") as f:
        for j in range(int(seconds * rate)):
            t = j / rate
            tau = float(_pingpong(t * src_fps, n)) / src_fps  # source time shown at t
            x = float(np.interp(tau, t_src, xy[:, 0]))
            y = float(np.interp(tau, t_src, xy[:, 1]))
            f.write(json.dumps({"type": "gaze", "timestamp": round(t, 6),
                                "data": {"gaze2d": [x, y]}}) + "\n")
    (out / ".done").write_text("ok\n")
    return out


if __name__ == "__main__":      # a child process makes it: its memory is not the bench's
    import argparse

    ap = argparse.ArgumentParser(description="Write a looped Tobii recording.")
    ap.add_argument("shared")
    ap.add_argument("out")
    ap.add_argument("width", type=int)
    ap.add_argument("height", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("fps", type=float)
    a = ap.parse_args()
    looped_recording(Path(a.shared), Path(a.out), (a.width, a.height), a.seconds, a.fps)
