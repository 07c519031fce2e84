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

Usable-gaze check: when no sample is ``ok`` the gaze cannot say anything, and
:func:`sync_gaze` raises a :class:`~gazevos.errors.GazevosError` naming the gaze file and why
(no sample inside the video's time span, all positions NaN, all below the confidence
threshold, all outside the frame, or the count of each flag).  When fewer than
:attr:`SyncConfig.min_usable_fraction` (default 50 %) of the samples are ``ok``, the results
rest on few samples: a :class:`GazeWarning` is issued (the CLI prints it as
``gazevos: warning: ...``) and the text is added to :attr:`SyncResult.warnings` and, with
the prefix :data:`WARNING_PREFIX`, to :attr:`SyncResult.notes`, from where the report shows
it at its top.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pandas as pd

from gazevos.config import setting
from gazevos.errors import GazevosError
from gazevos.io.recordings.base import Recording

#: Sample flags, in order of precedence.
FLAGS = ("before_video", "after_video", "missing", "low_confidence", "outside_frame", "ok")
#: Columns of :attr:`SyncResult.samples`.
SYNC_COLUMNS = ("time", "x", "y", "confidence", "frame", "flag")
#: Notes that start with this are warnings a person should see (the report shows them first).
WARNING_PREFIX = "warning: "


class GazeWarning(UserWarning):
    """Gaze that can be used but is doubtful (e.g. few usable samples)."""


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
        min_usable_fraction: below this share of ``ok`` samples a warning is issued.
        require_usable: no ``ok`` sample at all is an error (False: only a warning).
    """

    min_confidence: float = setting(0.6, ge=0.0, le=1.0)
    frame_count_tolerance: int = setting(1, ge=-1)
    check_video: bool = True
    last_frame_duration: float | None = setting(None, gt=0.0)
    min_usable_fraction: float = setting(0.5, ge=0.0, le=1.0)
    require_usable: bool = True


@dataclass
class SyncResult:
    """Gaze samples placed on frames.

    Attributes:
        samples: one row per input sample, in time order, columns :data:`SYNC_COLUMNS`:
            the recording's ``time, x, y, confidence`` plus ``frame`` (int64, -1 when the
            sample falls before or after the video) and ``flag`` (categorical, :data:`FLAGS`).
        frame_times: ``(F,)`` the frame times used (cut when a count mismatch was tolerated).
        counts: number of samples per flag (every flag present, zeros included).
        notes: remarks, e.g. a tolerated frame-count difference; warnings are included too,
            starting with :data:`WARNING_PREFIX`.
        warnings: doubtful gaze (e.g. few usable samples), one sentence each.
    """

    samples: pd.DataFrame
    frame_times: np.ndarray
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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
        GazevosError: no frame timestamps, a video / timestamp count mismatch beyond the
            tolerance, or no usable gaze sample (see :func:`check_usable`).
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
    result = SyncResult(samples=samples, frame_times=frame_times, counts=counts, notes=notes)
    check_usable(result, recording, cfg)
    return result


def gaze_file(recording: Recording) -> Path:
    """The file the gaze samples came from (``meta["gaze_file"]``), else the recording."""
    path = recording.meta.get("gaze_file")
    return Path(str(path)) if path else Path(recording.root)


def _breakdown(counts: dict[str, int]) -> str:
    """``before_video 3, missing 2`` for the flags other than ``ok`` that occur."""
    return ", ".join(f"{k} {counts[k]}" for k in FLAGS if k != "ok" and counts[k])


def unusable_reason(samples: pd.DataFrame, counts: dict[str, int], frame_times: np.ndarray,
                    end: float, size: tuple[int, int], min_confidence: float) -> str:
    """Why no sample of ``samples`` (the rows of :attr:`SyncResult.samples`) is usable, in
    one sentence; ``end`` is the end of the last frame's display interval (s)."""
    n = len(samples)
    if n == 0:
        return "the recording has no gaze samples"
    t = samples["time"].to_numpy(np.float64)
    if not (np.isfinite(samples["x"]) & np.isfinite(samples["y"])).any():
        return f"all {n} gaze samples are NaN (no gaze position)"
    if counts["before_video"] + counts["after_video"] == n:
        return (f"no gaze sample falls inside the video's time span (gaze {t.min():.3f}-"
                f"{t.max():.3f} s, video {frame_times[0]:.3f}-{end:.3f} s)")
    if counts["low_confidence"] == n:
        return f"all {n} gaze samples have a confidence below the minimum {min_confidence:g}"
    if counts["outside_frame"] == n:
        return (f"all {n} gaze samples lie outside the {size[0]}x{size[1]} video frame (wrong "
                "coordinates or resolution?)")
    return f"none of the {n} gaze samples is usable ({_breakdown(counts)})"


def check_usable(result: SyncResult, recording: Recording, config: SyncConfig) -> None:
    """Raise when no sample of ``result`` is usable; warn when few are (see the module
    docstring).  ``result.warnings`` and ``result.notes`` get the warning text.

    Raises:
        GazevosError: no ``ok`` sample (and ``config.require_usable``), naming the gaze file.
    """
    n, ok = len(result.samples), result.counts["ok"]
    path = gaze_file(recording)
    if ok == 0:
        end = frame_intervals_end(result.frame_times, config.last_frame_duration)
        reason = unusable_reason(result.samples, result.counts, result.frame_times, end,
                                 recording.resolution, config.min_confidence)
        if config.require_usable:
            raise GazevosError(f"no usable gaze: {reason}", path)
        text = f"{path}: no usable gaze: {reason}"
    elif ok < config.min_usable_fraction * n:
        text = (f"{path}: only {ok} of {n} gaze samples ({100.0 * ok / n:.1f} %) are usable "
                f"({_breakdown(result.counts)}); the results rest on few samples")
    else:
        return
    result.warnings.append(text)
    result.notes.append(WARNING_PREFIX + text)
    warnings.warn(text, GazeWarning, stacklevel=3)


class GazeSynchroniser:
    """Callable form of :func:`sync_gaze` holding a :class:`SyncConfig`."""

    def __init__(self, config: SyncConfig | None = None) -> None:
        self.config = config or SyncConfig()

    def __call__(self, recording: Recording) -> SyncResult:
        return sync_gaze(recording, self.config)
