"""A synthetic eye-tracking recording for ``gazevos demo`` and the tests.

:func:`make_demo_sample` writes a small Pupil-Core-like export (the layout Pupil Player
3.x writes: ``world.intrinsics``, ``info.player.json`` and ``exports/000/`` with
``world.mp4``, ``world_timestamps.npy``/``.csv`` and ``gaze_positions.csv``) of a made-up
scene: a textured wall and table seen by a slowly swaying head camera, with three
textured objects (a ``mug`` and a ``book`` from the start, a ``ball`` that rolls in
later), and a 200 Hz gaze track that fixates the objects in turn (following them while
they move), with saccades, a blink, a glance at the bare wall, sensor noise and a
constant calibration offset.  Everything is drawn from a seeded random generator, so a
sample is the same on every machine.

The script of the gaze is known, so the expected dwell time on each object is known
(:attr:`DemoSample.expected_dwell`), and so are the true masks (:func:`render_frame`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.io.atomic import atomic_write
from gazevos.io.masks import read_mask, write_mask
from gazevos.io.video import VideoWriter

#: Reference duration (s) of the gaze script; shorter samples scale it.
_SCRIPT_SECONDS = 6.0
#: (target, start s, end s) of each fixation for a 6-s sample; "wall" is no object.
_SCRIPT: tuple[tuple[str, float, float], ...] = (
    ("mug", 0.05, 0.80), ("book", 0.86, 1.70), ("wall", 1.76, 2.12),
    ("mug", 2.36, 3.20), ("ball", 3.26, 4.20), ("book", 4.26, 5.10), ("ball", 5.16, 5.95),
)
#: blink (no pupil: confidence 0) for a 6-s sample, s.
_BLINK = (2.16, 2.31)
NAMES = {1: "mug", 2: "book", 3: "ball"}
#: Smallest and largest sample video, (width, height) in pixels; sizes are made even (H.264).
MIN_SIZE = (96, 54)
MAX_SIZE = (3840, 2160)
#: Shortest and longest sample, s.
MIN_SECONDS, MAX_SECONDS = 1.0, 600.0


def demo_size(width: int, height: int) -> tuple[int, int]:
    """The video size of a sample asked for at ``width`` x ``height``: rounded down to even
    numbers (the H.264 encoder needs them, and the true masks must have the video's size).

    Raises:
        GazevosError: smaller than :data:`MIN_SIZE` or larger than :data:`MAX_SIZE`.
    """
    (w0, h0), (w1, h1) = MIN_SIZE, MAX_SIZE
    if not (w0 <= width <= w1 and h0 <= height <= h1):
        raise GazevosError(f"the sample video must be between {w0}x{h0} and {w1}x{h1} "
                           f"pixels, got {width}x{height}")
    return width - width % 2, height - height % 2


def parse_resolution(text: str) -> tuple[int, int]:
    """``"WxH"`` (``--resolution``) as the even ``(width, height)`` of :func:`demo_size`.

    Raises:
        GazevosError: not ``WxH`` with whole numbers, or a size out of bounds.
    """
    w, sep, h = text.strip().lower().partition("x")
    w, h = w.strip(), h.strip()
    if not (sep and w.isdigit() and h.isdigit()):
        raise GazevosError(f"--resolution must be WxH in pixels (e.g. 640x360), got '{text}'")
    try:
        return demo_size(int(w), int(h))
    except GazevosError as exc:
        raise GazevosError(f"--resolution: {exc.problem}") from None


@dataclass(frozen=True)
class DemoSample:
    """A written synthetic recording and what is known about it.

    Attributes:
        root: the recording folder (pass it to ``gazevos annotate``).
        size: video ``(width, height)``.
        n_frames: number of video frames.
        fps: frame rate.
        boxes: ``--box`` specs for the mug and the book on frame 0.
        points: ``--point`` spec for the ball, on a frame where it is in view.
        calibration_offset: ``(dx, dy)`` pixels added to the true gaze.
        expected_dwell: seconds the scripted gaze spends fixating each object.
        expected_visits: number of scripted fixation runs on each object.
        truth_dir: the true masks, one palette PNG per frame.
        ball_frame: the frame of the ball's point prompt.
    """

    root: Path
    size: tuple[int, int]
    n_frames: int
    fps: float
    boxes: tuple[str, ...]
    points: tuple[str, ...]
    calibration_offset: tuple[float, float]
    expected_dwell: dict[str, float] = field(default_factory=dict)
    expected_visits: dict[str, int] = field(default_factory=dict)
    truth_dir: Path | None = None
    ball_frame: int = 0


class DemoScene:
    """The synthetic world: background, object textures and their motion.

    Positions are kept in fractions of the frame size, so any resolution shows the same
    scene.

    Args:
        width, height: frame size in pixels.
        duration: length of the sample, s (motion is defined over 6 s and scaled).
        seed: random seed of the textures.
    """

    def __init__(self, width: int = 640, height: int = 360, duration: float = 6.0,
                 seed: int = 0) -> None:
        self.width, self.height, self.duration = width, height, duration
        rng = np.random.default_rng(seed)
        self.pad = int(0.12 * width)
        self.background = self._background(rng)
        s = min(width, height)
        self.sprites: dict[int, tuple[np.ndarray, np.ndarray]] = {
            1: self._mug(rng, int(0.22 * s), int(0.30 * s)),
            2: self._book(rng, int(0.38 * s), int(0.27 * s)),
            3: self._ball(rng, int(0.24 * s)),
        }

    # --- textures -----------------------------------------------------------------------
    def _smooth_noise(self, rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
        small = rng.random((max(2, h // cell), max(2, w // cell))).astype(np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """``(H + 2 pad, W + 2 pad, 3)`` uint8: a wall with a poster and a wooden table."""
        h, w = self.height + 2 * self.pad, self.width + 2 * self.pad
        img = np.zeros((h, w, 3), np.float32)
        horizon = int(0.62 * h)
        wall = (0.50 + 0.22 * self._smooth_noise(rng, h, w, max(4, w // 12))
                + 0.16 * self._smooth_noise(rng, h, w, max(3, w // 90)))  # plaster texture
        img[:horizon] = (wall[:horizon, :, None] * np.array([205, 200, 185], np.float32))
        yy, xx = np.mgrid[0:h - horizon, 0:w].astype(np.float32)
        grain = 0.5 + 0.5 * np.sin(xx / max(2.0, w / 90) + 3 * self._smooth_noise(
            rng, h - horizon, w, max(4, w // 20)))
        img[horizon:] = (0.55 + 0.3 * grain)[..., None] * np.array([150, 100, 60], np.float32)
        px0, py0 = int(0.62 * w), int(0.10 * h)  # a poster with stripes on the wall
        pw, ph = int(0.2 * w), int(0.28 * h)
        stripes = (np.arange(pw)[None, :] // max(2, pw // 9)) % 2
        img[py0:py0 + ph, px0:px0 + pw] = np.where(stripes[..., None], [90, 120, 170],
                                                   [225, 225, 230])
        img += rng.normal(0, 6, img.shape).astype(np.float32)
        return np.clip(img, 0, 255).astype(np.uint8)

    def _mug(self, rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        alpha = np.zeros((h, w), np.uint8)
        r = max(2, w // 6)
        cv2.rectangle(alpha, (r, 0), (w - 1 - r, h - 1), 255, -1)
        cv2.rectangle(alpha, (0, r), (w - 1, h - 1 - r), 255, -1)
        for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
            cv2.circle(alpha, (cx, cy), r, 255, -1)
        band = (np.arange(h)[:, None] // max(2, h // 8)) % 2
        tex = np.where(band[..., None], [200, 40, 40], [240, 225, 215]).astype(np.float32)
        tex = np.broadcast_to(tex, (h, w, 3)).copy()
        tex *= (0.75 + 0.25 * np.cos(np.linspace(-1.3, 1.3, w)))[None, :, None]
        tex += rng.normal(0, 5, tex.shape)
        return np.clip(tex, 0, 255).astype(np.uint8), alpha

    def _book(self, rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        alpha = np.full((h, w), 255, np.uint8)
        tex = np.empty((h, w, 3), np.float32)
        tex[:] = (40, 70, 160)
        tex[:, : max(2, w // 12)] = (25, 40, 100)  # spine
        for k in range(6):  # title lines
            y = int(h * (0.18 + 0.11 * k))
            x0 = int(w * 0.18)
            x1 = int(w * (0.55 + 0.35 * rng.random()))
            cv2.rectangle(tex, (x0, y), (x1, y + max(1, h // 30)), (240, 200, 60), -1)
        tex += rng.normal(0, 5, tex.shape)
        return np.clip(tex, 0, 255).astype(np.uint8), alpha

    def _ball(self, rng: np.random.Generator, d: int) -> tuple[np.ndarray, np.ndarray]:
        alpha = np.zeros((d, d), np.uint8)
        cv2.circle(alpha, (d // 2, d // 2), d // 2 - 1, 255, -1, cv2.LINE_AA)
        yy, xx = np.mgrid[0:d, 0:d].astype(np.float32) / d - 0.5
        shade = np.clip(1.0 - 1.2 * ((xx + 0.15) ** 2 + (yy + 0.15) ** 2), 0.45, 1.0)
        tex = shade[..., None] * np.array([60, 190, 80], np.float32)
        for _ in range(9):
            cx, cy = rng.integers(d // 5, 4 * d // 5, size=2)
            cv2.circle(tex, (int(cx), int(cy)), max(1, d // 14), (20, 60, 30), -1)
        tex += rng.normal(0, 5, tex.shape)
        return np.clip(tex, 0, 255).astype(np.uint8), alpha

    # --- motion -------------------------------------------------------------------------
    def _u(self, t: float) -> float:
        """Time as a fraction of the 6-s reference motion."""
        return t * _SCRIPT_SECONDS / max(self.duration, 1e-6)

    def camera(self, t: float) -> tuple[float, float]:
        """Head-camera offset into the padded background at time ``t``, pixels."""
        u = self._u(t)
        return (self.pad * (1 + 0.55 * np.sin(2 * np.pi * u / 5.0)),
                self.pad * (1 + 0.35 * np.sin(2 * np.pi * u / 3.7 + 0.8)))

    def center(self, object_id: int, t: float) -> tuple[float, float] | None:
        """Object centre in frame pixels at time ``t`` (None while not yet in the scene)."""
        u, w, h = self._u(t), self.width, self.height
        cam = self.camera(t)
        dx, dy = cam[0] - self.pad, cam[1] - self.pad
        if object_id == 1:  # mug slides right on the table
            x, y = w * (0.20 + 0.035 * u), h * (0.58 + 0.02 * np.sin(2 * np.pi * u / 3))
        elif object_id == 2:  # book drifts left, slightly up
            x, y = w * (0.62 - 0.02 * u), h * (0.72 - 0.01 * u)
        else:  # ball rolls in from the right between 1.4 s and 2.6 s, then sways
            if u < 1.4:
                return None
            a = min(1.0, (u - 1.4) / 1.2)
            x = w * (1.15 - (1.15 - 0.84) * (1 - (1 - a) ** 2)) - w * 0.03 * np.sin(
                2 * np.pi * max(0.0, u - 2.6) / 2.5)
            y = h * 0.38
        return float(x - dx), float(y - dy)

    def render(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The frame at time ``t``: ``(H, W, 3)`` uint8 RGB and its ``(H, W)`` uint8 labels."""
        cx, cy = self.camera(t)
        m = np.float32([[1, 0, -cx], [0, 1, -cy]])
        img = cv2.warpAffine(self.background, m, (self.width, self.height),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        labels = np.zeros((self.height, self.width), np.uint8)
        for oid in (2, 1, 3):  # painter's order: the book lies behind the mug
            c = self.center(oid, t)
            if c is None:
                continue
            tex, alpha = self.sprites[oid]
            sh, sw = alpha.shape
            m = np.float32([[1, 0, c[0] - sw / 2], [0, 1, c[1] - sh / 2]])
            a = cv2.warpAffine(alpha, m, (self.width, self.height), flags=cv2.INTER_LINEAR)
            o = cv2.warpAffine(tex, m, (self.width, self.height), flags=cv2.INTER_LINEAR)
            af = (a.astype(np.float32) / 255.0)[..., None]
            img = (img * (1 - af) + o * af).astype(np.uint8)
            labels[a >= 128] = oid
        return img, labels

    def box(self, object_id: int, t: float, margin: int = 4) -> tuple[int, int, int, int]:
        """Pixel box around the object at time ``t`` (with ``margin``, clipped to the frame)."""
        _, labels = self.render(t)
        ys, xs = np.nonzero(labels == object_id)
        return (max(0, int(xs.min()) - margin), max(0, int(ys.min()) - margin),
                min(self.width, int(xs.max()) + 1 + margin),
                min(self.height, int(ys.max()) + 1 + margin))


def render_frame(scene: DemoScene, index: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``index`` of a sample at ``fps``: RGB image and true labels."""
    return scene.render(index / fps)


def _min_jerk(a: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)[:, None]
    return a + (b - a) * (10 * s**3 - 15 * s**4 + 6 * s**5)


def gaze_track(scene: DemoScene, rate: float = 200.0, noise_px: float = 0.8,
               offset: tuple[float, float] = (0.0, 0.0), seed: int = 1
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scripted gaze: ``(N,)`` times s, ``(N, 2)`` pixels, ``(N,)`` confidence.

    Fixations follow a point of their object (a random spot within its central part);
    saccades between them follow a minimum-jerk path; during the blink the confidence is
    0 and the position is garbage.  ``offset`` is added to every position.
    """
    rng = np.random.default_rng(seed)
    k = scene.duration / _SCRIPT_SECONDS
    script = [(name, a * k, b * k) for name, a, b in _SCRIPT]
    t = np.arange(0.0, scene.duration, 1.0 / rate)
    t = t + rng.uniform(-0.1, 0.1, len(t)) / rate
    t[0] = max(t[0], 0.0)
    xy = np.full((len(t), 2), np.nan)
    ids = {v: k_ for k_, v in NAMES.items()}
    wall = (0.40 * scene.width, 0.20 * scene.height)
    spots = []
    for name, a, b in script:
        jitter = rng.uniform(-0.12, 0.12, 2) * min(scene.width, scene.height)
        spots.append((name, a, b, jitter * (0.0 if name == "wall" else 1.0)))

    def target(name: str, tt: float, jit: np.ndarray) -> np.ndarray:
        if name == "wall":
            return np.array(wall) - (np.array(scene.camera(tt)) - scene.pad)
        c = scene.center(ids[name], tt)
        assert c is not None, f"{name} is not in view at {tt:.2f} s"
        return np.array(c) + jit * np.array([0.25, 0.35])

    for i, (name, a, b, jit) in enumerate(spots):
        sel = (t >= a) & (t < b)
        xy[sel] = np.array([target(name, tt, jit) for tt in t[sel]])
        if i + 1 < len(spots):  # saccade to the next fixation
            nxt, a2, _, jit2 = spots[i + 1]
            sel = (t >= b) & (t < a2)
            p0, p1 = target(name, b, jit), target(nxt, a2, jit2)
            xy[sel] = _min_jerk(p0, p1, (t[sel] - b) / max(a2 - b, 1e-6))
    first = spots[0]
    xy[t < first[1]] = target(first[0], first[1], first[3])
    last = spots[-1]
    xy[t >= last[2]] = target(last[0], last[2], last[3])
    xy += rng.normal(0.0, noise_px, xy.shape) + np.asarray(offset)
    conf = np.clip(rng.normal(0.97, 0.02, len(t)), 0.8, 1.0)
    blink = (t >= _BLINK[0] * k) & (t < _BLINK[1] * k)
    conf[blink] = 0.0
    xy[blink] = rng.uniform(0, 1, (int(blink.sum()), 2)) * [scene.width, scene.height]
    return t, xy, conf


def make_demo_sample(out: str | os.PathLike[str], width: int = 640, height: int = 360,
                     fps: float = 30.0, duration: float = 6.0, seed: int = 0,
                     offset: tuple[float, float] | None = None) -> DemoSample:
    """Write the synthetic recording under ``out`` (created) and describe it.

    Args:
        out: folder to write (its contents are replaced file by file).
        width, height: scene video size (rounded down to even numbers, see
            :func:`demo_size`; :attr:`DemoSample.size` is the size written).
        fps: video frame rate.
        duration: length in seconds.
        seed: random seed.
        offset: calibration offset (pixels) added to the gaze; default 1.8 % of the width
            right and 1.8 % of the height up (about 11 x 6 px at 640 x 360).

    Raises:
        GazevosError: a size, length or frame rate out of bounds.
    """
    width, height = demo_size(width, height)
    if not (math.isfinite(duration) and MIN_SECONDS <= duration <= MAX_SECONDS):
        raise GazevosError(f"the sample must last {MIN_SECONDS:g} to {MAX_SECONDS:g} s, got "
                           f"{duration:g}")
    if not (math.isfinite(fps) and 1.0 <= fps <= 240.0):
        raise GazevosError(f"the sample frame rate must be 1 to 240 frames/s, got {fps:g}")
    out = Path(out)
    exp = out / "exports" / "000"
    exp.mkdir(parents=True, exist_ok=True)
    scene = DemoScene(width, height, duration, seed)
    n = int(round(duration * fps))
    t0 = 1000.0  # Pupil time of the first frame, s
    rng = np.random.default_rng(seed + 7)
    frame_t = np.arange(n) / fps + rng.uniform(-0.002, 0.002, n)
    frame_t[0] = 0.0
    truth = out / "groundtruth"
    with VideoWriter(exp / "world.mp4", fps=fps, crf=20) as vw:
        for i in range(n):
            image, labels = scene.render(float(frame_t[i]))
            vw.write(image)
            write_mask(truth / f"{i:05d}.png", labels)
    offset = offset if offset is not None else (0.018 * width, -0.018 * height)
    gt, gxy, gconf = gaze_track(scene, offset=offset, seed=seed + 1)
    ts = t0 + frame_t
    with atomic_write(exp / "world_timestamps.npy") as tmp:
        np.save(tmp, ts)
    with atomic_write(exp / "world_timestamps.csv") as tmp:
        tmp.write_text("# timestamps [seconds],pts\n" + "".join(
            f"{v:.6f},{i * 512}\n" for i, v in enumerate(ts)))
    world_index = np.clip(np.searchsorted(frame_t, gt + 0.5 / fps) - 1, 0, n - 1)
    rows = ["gaze_timestamp,world_index,confidence,norm_pos_x,norm_pos_y,base_data"]
    for tt, wi, c, (x, y) in zip(gt, world_index, gconf, gxy, strict=True):
        rows.append(f"{t0 + tt:.6f},{wi},{c:.4f},{x / width:.6f},{1 - y / height:.6f},"
                    f"{t0 + tt:.6f}-0")
    with atomic_write(exp / "gaze_positions.csv") as tmp:
        tmp.write_text("\n".join(rows) + "\n")
    with atomic_write(exp / "export_info.csv") as tmp:
        tmp.write_text("key,value\nPlayer Software Version,3.5.1\nData Format Version,2.0\n"
                       f"Frame Index Range:,0 - {n - 1}\n")
    focal = width / (2 * np.tan(np.radians(45.0)))  # a 90-degree horizontal field of view
    intr = {"version": 1, f"({width}, {height})": {
        "camera_matrix": [[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]],
        "dist_coefs": [[0.0, 0.0, 0.0, 0.0, 0.0]], "resolution": [width, height],
        "cam_type": "radial"}}
    import msgpack

    with atomic_write(out / "world.intrinsics") as tmp:
        tmp.write_bytes(msgpack.packb(intr, use_bin_type=True))
    info = {"duration_s": duration, "meta_version": "2.3", "min_player_version": "2.0",
            "recording_name": "gazevos-demo", "recording_software_name": "gazevos demo",
            "recording_software_version": "synthetic", "start_time_synced_s": t0,
            "start_time_system_s": 1700000000.0, "system_info": "synthetic"}
    with atomic_write(out / "info.player.json") as tmp:
        tmp.write_text(json.dumps(info, indent=4))

    k = duration / _SCRIPT_SECONDS
    dwell: dict[str, float] = {}
    visits: dict[str, int] = {}
    for name, a, b in _SCRIPT:
        if name in NAMES.values():
            dwell[name] = dwell.get(name, 0.0) + (b - a) * k
            visits[name] = visits.get(name, 0) + 1
    boxes = tuple(f"{NAMES[i]}:{','.join(str(v) for v in scene.box(i, 0.0))}@0" for i in (1, 2))
    ball_frame = int(np.ceil(2.7 * k * fps))
    bx, by = scene.center(3, ball_frame / fps)  # type: ignore[misc]
    points = (f"ball:{bx:.0f},{by:.0f}@{ball_frame}",)
    return DemoSample(out, (width, height), n, fps, boxes, points, tuple(offset),
                      dwell, visits, truth, ball_frame)


def mask_iou(pred_dir: str | os.PathLike[str], truth_dir: str | os.PathLike[str],
             n_frames: int, object_ids: Sequence[int],
             first_frame: dict[int, int] | None = None) -> dict[int, float]:
    """Mean IoU per object between two folders of per-frame masks (``00000.png`` ...).

    Frames where the object is in neither mask are skipped; frames where it is in one only
    count as 0.  ``first_frame`` gives, per object, the first frame to score (the frame
    where it was given to the tracker).
    """
    first_frame = first_frame or {}
    inter: dict[int, list[float]] = {i: [] for i in object_ids}
    for k in range(n_frames):
        a = read_mask(Path(pred_dir) / f"{k:05d}.png")
        b = read_mask(Path(truth_dir) / f"{k:05d}.png")
        for i in object_ids:
            if k < first_frame.get(i, 0):
                continue
            ma, mb = a == i, b == i
            union = int((ma | mb).sum())
            if union:
                inter[i].append(int((ma & mb).sum()) / union)
    return {i: float(np.mean(v)) if v else float("nan") for i, v in inter.items()}


def demo_report(sample: DemoSample, metrics: pd.DataFrame, masks_dir: str | os.PathLike[str]
                ) -> pd.DataFrame:
    """Compare an annotate run on the demo sample with what the sample is known to hold.

    Returns:
        One row per object: ``object``, ``mask_iou`` (mean over the frames from the one it
        is given on, against the true masks), ``scripted_fixation_s`` and ``fixation_s``
        (total fixation time on it, scripted vs measured), ``dwell_s`` (measured sample
        dwell time), and ``scripted_visits`` vs ``visits``.
    """
    ids = {name: oid for oid, name in NAMES.items()}
    starts = {1: 0, 2: 0, 3: sample.ball_frame}
    iou = mask_iou(masks_dir, sample.truth_dir, sample.n_frames, list(NAMES), starts) \
        if sample.truth_dir is not None else {}
    rows = []
    by_id = metrics.set_index("object_id")
    for name, oid in ids.items():
        m = by_id.loc[oid] if oid in by_id.index else None
        rows.append({"object": name, "mask_iou": iou.get(oid, float("nan")),
                     "scripted_fixation_s": sample.expected_dwell.get(name, 0.0),
                     "fixation_s": float(m["total_fixation_duration"]) if m is not None else 0.0,
                     "dwell_s": float(m["dwell_time"]) if m is not None else 0.0,
                     "scripted_visits": sample.expected_visits.get(name, 0),
                     "visits": int(m["n_visits"]) if m is not None else 0})
    return pd.DataFrame(rows)
