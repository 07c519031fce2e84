"""Put every gaze sample on its scene-video frame, by timestamp, and flag what is unusable.

A frame ``i`` is on screen during ``[t_i, t_{i+1})``; the last frame during
``[t_{F-1}, t_{F-1} + d)`` where ``d`` is the median frame interval (or
:attr:`SyncConfig.last_frame_duration`).  A sample at time ``t`` belongs to the frame whose
interval contains ``t``; row order never matters.

Nothing is dropped.  Each sample gets one ``flag``, the first that applies, in this order:

``before_video``    ``t < t_0`` (``frame`` = -1)
``after_video``     ``t >= t_{F-1} + d`` (``frame`` = -1)
``missing``         no position (``x`` or ``y`` is NaN)
``low_confidence``  ``confidence < min_confidence`` (or NaN)
``outside_frame``   position outside the image: not ``0 <= x < W`` and ``0 <= y < H``
``ok``              usable

Frame-count check: the scene video's frame count (container header; packets are counted
when the header has none) must equal the number of frame timestamps.  A difference of at
most :attr:`SyncConfig.frame_count_tolerance` (default 1: a recording stopped mid-frame can
leave one extra timestamp or one extra frame at the end) is accepted: both are cut to the
shorter length, on the assumption that they agree from the first frame on, and a note says
so.  A larger difference is an error, since frame indices could then be shifted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.io.recordings.base import Recording

#: Sample flags, in order of precedence.
FLAGS = ("before_video", "after_video", "missing", "low_confidence", "outside_frame", "ok")
#: Columns of :attr:`SyncResult.samples`.
SYNC_COLUMNS = ("time", "x", "y", "confidence", "frame", "flag")


@dataclass(frozen=True)
class SyncConfig:
    """Settings of gaze-to-frame synchronisation.

    Attributes:
        min_confidence: samples below this confidence are flagged ``low_confidence``
            (0.6 is Pupil Labs' advice for Pupil Core; other devices give 0 or 1).
        frame_count_tolerance: accepted difference between the video's frame count and the
            number of frame timestamps (see the module docstring); -1 skips the check.
        check_video: compare the frame count with the video at all.
        last_frame_duration: how long the last frame stays on screen (s); None: the median
            frame interval.
    """

    min_confidence: float = 0.6
    frame_count_tolerance: int = 1
    check_video: bool = True
    last_frame_duration: float | None = None


@dataclass
class SyncResult:
    """Gaze samples placed on frames.

    Attributes:
        samples: one row per input sample, in time order, columns :data:`SYNC_COLUMNS`:
            the recording's ``time, x, y, confidence`` plus ``frame`` (int64, -1 when the
            sample falls before or after the video) and ``flag`` (categorical, :data:`FLAGS`).
        frame_times: ``(F,)`` the frame times used (cut when a count mismatch was tolerated).
        counts: number of samples per flag (every flag present, zeros included).
        notes: remarks, e.g. a tolerated frame-count difference.
    """

    samples: pd.DataFrame
    frame_times: np.ndarray
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: ``N samples: ok n, low_confidence n, ...``."""
        parts = ", ".join(f"{k} {self.counts[k]}" for k in reversed(FLAGS))
        return f"{len(self.samples)} samples: {parts}"


def video_frame_count(path: Path) -> int:
    """Number of frames of a video: the container header's count, else counted packets."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise GazevosError("file has no video stream", path)
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for p in container.demux(stream) if p.size > 0)
    except av.error.FFmpegError as exc:
        raise GazevosError(f"cannot read video ({exc.__class__.__name__})", path) from exc
    except FileNotFoundError as exc:
        raise GazevosError("video file not found", path) from exc


def check_frame_count(recording: Recording, tolerance: int = 1) -> tuple[int, list[str]]:
    """Compare the video's frame count with ``len(recording.frame_times)``.

    Returns:
        ``(n, notes)``: the number of frames to use (the shorter of the two when the
        difference is within ``tolerance``) and a note when they differ.

    Raises:
        GazevosError: the counts differ by more than ``tolerance``.
    """
    n_ts = len(recording.frame_times)
    if recording.video_path is None or tolerance < 0:
        return n_ts, []
    n_video = video_frame_count(recording.video_path)
    if n_video == n_ts:
        return n_ts, []
    diff = abs(n_video - n_ts)
    if diff > tolerance:
        raise GazevosError(f"scene video has {n_video} frames but the recording has {n_ts} "
                           f"frame timestamps (difference {diff} > tolerated {tolerance}); "
                           "frame indices would be wrong", recording.video_path)
    n = min(n_video, n_ts)
    return n, [f"video has {n_video} frames and {n_ts} frame timestamps; using the first {n}"]


def frame_intervals_end(frame_times: np.ndarray, last_frame_duration: float | None) -> float:
    """End time of the last frame's display interval, ``t_{F-1} + d``."""
    if last_frame_duration is not None:
        if not last_frame_duration > 0:
            raise GazevosError(f"last_frame_duration must be > 0, got {last_frame_duration}")
        return float(frame_times[-1] + last_frame_duration)
    if len(frame_times) < 2:
        raise GazevosError("one frame timestamp only: set last_frame_duration to say how long "
                           "it is shown")
    return float(frame_times[-1] + np.median(np.diff(frame_times)))


def assign_frames(times: np.ndarray, frame_times: np.ndarray,
                  last_frame_duration: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame index of each time: the frame whose display interval ``[t_i, t_{i+1})`` holds it.

    Args:
        times: ``(N,)`` sample times (s), any order.
        frame_times: ``(F,)`` ascending frame times (s), ``F >= 1``.
        last_frame_duration: display time of the last frame (default: median interval).

    Returns:
        ``frame (N,)`` int64 (-1 outside the video) and ``where (N,)`` int8: -1 before the
        first frame, 0 inside, +1 at or after the end of the last frame.
    """
    times = np.asarray(times, dtype=np.float64)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    end = frame_intervals_end(frame_times, last_frame_duration)
    frame = np.searchsorted(frame_times, times, side="right").astype(np.int64) - 1
    where = np.zeros(times.shape, dtype=np.int8)
    where[frame < 0] = -1
    where[times >= end] = 1
    frame[where != 0] = -1
    return frame, where


def sync_gaze(recording: Recording, config: SyncConfig | None = None) -> SyncResult:
    """Place each gaze sample of ``recording`` on its scene frame and flag it.

    Args:
        recording: a :class:`Recording` with at least one frame timestamp.
        config: settings (default :class:`SyncConfig()`).

    Returns:
        A :class:`SyncResult`; ``samples`` has as many rows as ``recording.gaze``.

    Raises:
        GazevosError: no frame timestamps, or a video / timestamp count mismatch beyond the
            tolerance.
    """
    cfg = config or SyncConfig()
    if len(recording.frame_times) == 0:
        raise GazevosError("recording has no scene-frame timestamps, so gaze cannot be put "
                           "on frames", recording.root)
    notes: list[str] = []
    n = len(recording.frame_times)
    if cfg.check_video:
        n, notes = check_frame_count(recording, cfg.frame_count_tolerance)
    frame_times = np.asarray(recording.frame_times[:n], dtype=np.float64)

    g = recording.gaze
    t = g["time"].to_numpy(dtype=np.float64)
    x = g["x"].to_numpy(dtype=np.float64)
    y = g["y"].to_numpy(dtype=np.float64)
    conf = g["confidence"].to_numpy(dtype=np.float64)
    frame, where = assign_frames(t, frame_times, cfg.last_frame_duration)
    w, h = recording.resolution

    missing = ~(np.isfinite(x) & np.isfinite(y))
    with np.errstate(invalid="ignore"):
        low = ~(conf >= cfg.min_confidence)
        outside = ~missing & ~((x >= 0) & (x < w) & (y >= 0) & (y < h))
    code = np.full(t.shape, FLAGS.index("ok"), dtype=np.int8)
    # assign from the lowest precedence up, so the first applicable flag wins
    for name, mask in (("outside_frame", outside), ("low_confidence", low),
                       ("missing", missing), ("after_video", where > 0),
                       ("before_video", where < 0)):
        code[mask] = FLAGS.index(name)
    flag = pd.Categorical.from_codes(code, categories=list(FLAGS))
    samples = pd.DataFrame({"time": t, "x": x, "y": y, "confidence": conf, "frame": frame,
                            "flag": flag}, columns=list(SYNC_COLUMNS))
    counts = {name: int((code == i).sum()) for i, name in enumerate(FLAGS)}
    return SyncResult(samples=samples, frame_times=frame_times, counts=counts, notes=notes)


class GazeSynchroniser:
    """Callable form of :func:`sync_gaze` holding a :class:`SyncConfig`."""

    def __init__(self, config: SyncConfig | None = None) -> None:
        self.config = config or SyncConfig()

    def __call__(self, recording: Recording) -> SyncResult:
        return sync_gaze(recording, self.config)
