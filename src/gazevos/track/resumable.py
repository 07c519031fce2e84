"""A tracking pass over a video that can be interrupted and resumed mid-way, exactly.

:func:`track_pass` steps a tracker through the frames of a source and hands each frame's
label map to a writer.  Every ``checkpoint_seconds`` it saves the tracker's whole state
(its memory, adapted weights, random generator: the tracker object itself, pickled with
:func:`torch.save`) together with the index of the next frame, atomically.  A pass started
again with the same state file skips the frames already done (decoding them only) and
continues from the saved state, so its outputs equal those of an uninterrupted pass.

Trackers whose attributes cannot be pickled (OpenCV objects) name them in
:attr:`gazevos.track.base.Tracker.transient` and rebuild them on load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gazevos.errors import GazevosError
from gazevos.io.atomic import atomic_write
from gazevos.io.frames import Frame
from gazevos.io.pipeline import Prefetch, WriteBehind
from gazevos.runtime import opencv_threads, pipeline_opencv_threads
from gazevos.track.base import GridPrediction, Tracker

STATE_FORMAT = 1

#: ``frame -> (mask, objects)`` given to the tracker on that frame (``(None, None)``: none)
Prompter = Callable[[Frame], tuple[np.ndarray | None, list[int] | None]]
#: ``(frame, labels)`` -> None: store one frame's ``(H, W)`` uint8 label map
Writer = Callable[[Frame, np.ndarray], None]


@dataclass
class PassResult:
    """What :func:`track_pass` did.

    Attributes:
        frames: frames tracked and written, over all invocations.
        seconds: wall time of tracking, over all invocations (saved in the state).
        resumed_at: the frame this invocation started tracking at (0: from the start).
        cpu_seconds: CPU seconds of this invocation's stages: ``decode`` (the decoding
            thread; FFmpeg's own threads not counted), ``track`` (tracker steps) and
            ``write`` (the writing thread).
    """

    frames: int
    seconds: float
    resumed_at: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def _hash_weights(h: Any, tracker: Tracker, prefix: str) -> None:
    """Feed the weights of ``tracker``'s modules (and of its sub-trackers') to ``h``."""
    for name, value in sorted(vars(tracker).items()):
        if isinstance(value, torch.nn.Module):
            for k, t in value.state_dict().items():
                h.update(f"{prefix}{name}.{k}".encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(value, Tracker):  # a tracker made of trackers (fusion)
            _hash_weights(h, value, f"{prefix}{name}.")


def tracker_identity(tracker: Tracker) -> dict[str, Any]:
    """Name, settings and a hash of the weights of a tracker (what its masks depend on)."""
    h = hashlib.sha256()
    _hash_weights(h, tracker, "")
    return {"name": type(tracker).name, "config": repr(getattr(tracker, "config", None)),
            "weights": h.hexdigest()}


def _labels(item: np.ndarray | GridPrediction) -> np.ndarray:
    """The ``(H, W)`` label map of a work-grid prediction (made where this is called), or
    the map."""
    return item if isinstance(item, np.ndarray) else np.asarray(item.labels)


def _kept(last: tuple[int, np.ndarray | GridPrediction] | None) -> tuple[int, np.ndarray] | None:
    """``last`` with its labels made, to be saved."""
    return None if last is None else (last[0], _labels(last[1]))


def save_state(path: str | os.PathLike[str], tracker: Tracker, next_index: int,
               seconds: float, key: Any = None,
               last: tuple[int, np.ndarray] | None = None) -> None:
    """Save ``tracker`` and the pass position to ``path`` atomically (``last``: the
    latest tracked frame's index and labels, which a strided pass needs to go on)."""
    with atomic_write(path) as tmp:
        torch.save({"format": STATE_FORMAT, "next_index": int(next_index),
                    "seconds": float(seconds), "key": key, "tracker": tracker,
                    "last": last}, tmp)


def load_state(path: str | os.PathLike[str], key: Any = None) -> dict[str, Any] | None:
    """The saved pass state at ``path``, or None when absent, unreadable, of another
    format or saved for another ``key``."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - a damaged state file is only a lost checkpoint
        return None
    if (not isinstance(state, dict) or state.get("format") != STATE_FORMAT
            or state.get("key") != key or not isinstance(state.get("tracker"), Tracker)):
        return None
    return state


class _Interrupts:
    """Signals that arrived while a frame was being tracked (see :func:`_deferred`)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def stop(self) -> None:
        """Act on the held signal as the handler before the pass would have (so the CLI
        reports the right signal), or raise KeyboardInterrupt."""
        handler = self.previous.get(self.signum) if self.signum is not None else None
        if callable(handler):
            handler(self.signum, None)
        raise KeyboardInterrupt


@contextlib.contextmanager
def _deferred(enabled: bool) -> Iterator[_Interrupts]:
    """Hold SIGINT and SIGTERM until the current frame is finished, so the pass can save a
    consistent state before stopping; a second signal stops at once.  Only in the main
    thread (elsewhere signals cannot be handled and nothing changes)."""
    got = _Interrupts()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield got
        return
    previous: dict[int, Any] = {}

    def hold(signum: int, _frame: object) -> None:
        if got.signum is not None:
            got.stop()
        got.signum = signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, hold)
    got.previous = previous
    try:
        yield got
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def track_pass(frames: Iterable[Frame], tracker: Tracker, prompter: Prompter, writer: Writer,
               *, state_path: str | os.PathLike[str] | None = None, key: Any = None,
               n_frames: int | None = None, checkpoint_seconds: float = 30.0,
               progress: bool = True, desc: str = "track", stride: int = 1,
               threads: bool = True) -> PassResult:
    """Track every frame (or every ``stride``-th), writing each label map; resumable.

    With ``stride`` k > 1 the tracker sees frames ``0, k, 2k, ...``, every frame with a
    prompt and the last frame (``n_frames - 1``); each frame in between takes the labels
    of the nearer tracked frame (the earlier one on a tie).

    Args:
        frames: the video's frames, in order from index 0.
        tracker: a fresh tracker (reset here) — replaced by the saved one on resume.
        prompter: the masks given on each frame.
        writer: stores each frame's label map (called in frame order).
        state_path: where to save the pass state (None: not resumable).  An existing
            state for the same ``key`` is continued.
        key: what the pass depends on; a state saved for another key is ignored.
        n_frames: stop after this many frames (None: all); also the progress bar length.
        checkpoint_seconds: save the state at most this often (0: after every frame).
        progress: show a tqdm bar.
        desc: bar label.
        stride: track every this-many-th frame (1: all).
        threads: decode ahead and write behind in threads (:mod:`gazevos.io.pipeline`);
            OpenCV's own pool is then :func:`~gazevos.runtime.pipeline_opencv_threads` for
            the pass.

    Returns:
        a :class:`PassResult` (with the CPU seconds of decoding, tracking and writing).

    Raises:
        GazevosError: from the tracker, the prompter or the writer.
    """
    stride = max(1, int(stride))
    start_index, before = 0, 0.0
    # the latest tracked frame's labels, or its work-grid prediction (labels made in the
    # writing thread)
    last: tuple[int, np.ndarray | GridPrediction] | None = None
    state = load_state(state_path, key) if state_path is not None else None
    if state is not None:
        tracker, start_index, before = state["tracker"], state["next_index"], state["seconds"]
        last = state.get("last")
    else:
        tracker.reset()
    t0 = time.perf_counter()
    last_save = t0
    n = start_index
    pending: list[Frame] = []                     # skipped frames awaiting the next tracked one
    step_cpu = 0.0
    depth = 4 if threads else 0
    bar = tqdm(total=n_frames, initial=start_index, desc=desc, unit="frame",
               disable=not progress)
    # every frame is stepped in order: the tracker may prepare the next ones meanwhile
    # (in the decoding thread; classic: work-grid images and optical flow)
    ahead = threads and stride == 1

    def prepared(items: Iterable[Frame]) -> Iterator[Frame]:
        for f in items:
            if ahead and f.index >= start_index and (n_frames is None or f.index < n_frames):
                tracker.prepare(f.image)
            yield f

    source = Prefetch(prepared(frames), depth)
    out = WriteBehind(lambda item: writer(item[0], _labels(item[1])), depth)

    def fill(upto: Frame | None, labels: np.ndarray | GridPrediction | None) -> None:
        """Write the pending frames with the nearer tracked frame's labels."""
        for f in pending:
            use_next = (labels is not None and upto is not None
                        and (last is None or upto.index - f.index < f.index - last[0]))
            out.put((f, labels if use_next else last[1]))  # type: ignore[index]
        bar.update(len(pending))
        pending.clear()

    pool = contextlib.nullcontext() if not threads else opencv_threads(pipeline_opencv_threads())
    with pool, _deferred(state_path is not None) as interrupts, contextlib.closing(bar), \
            source, out:
        for frame in source:
            if n_frames is not None and frame.index >= n_frames:
                break
            if frame.index < start_index:
                continue
            if frame.index != n:
                raise GazevosError(f"frame {frame.index} came where frame {n} was expected")
            n += 1
            mask, objects = prompter(frame)
            tracked_now = (stride == 1 or mask is not None or last is None
                           or frame.index % stride == 0
                           or (n_frames is not None and frame.index == n_frames - 1))
            if not tracked_now:
                pending.append(frame)
                continue
            c0 = time.thread_time()
            pred = tracker.step(frame.image, mask=mask, objects=objects)
            # a work-grid prediction is small: its frame-size labels are made by the
            # writing thread, off this one; a frame-size one (25 MB at 1080p) is not kept
            if not isinstance(pred, GridPrediction):
                pred = np.asarray(pred.labels)
            step_cpu += time.thread_time() - c0
            fill(frame, pred)
            out.put((frame, pred))
            last = (frame.index, pred)
            bar.update(1)
            now = time.perf_counter()
            stop = interrupts.signum is not None
            if state_path is not None and (stop or now - last_save >= checkpoint_seconds):
                out.flush()          # the state must not run ahead of the masks on disk
                save_state(state_path, tracker, n, before + now - t0, key,
                           _kept(last) if stride > 1 else None)
                last_save = time.perf_counter()
            if stop:
                interrupts.stop()
        if pending and last is not None:
            fill(None, None)
        out.flush()
        if interrupts.signum is not None:    # arrived after the last frame's check
            if state_path is not None:
                save_state(state_path, tracker, n, before + time.perf_counter() - t0, key,
                           _kept(last) if stride > 1 else None)
            interrupts.stop()
    return PassResult(n, before + time.perf_counter() - t0, start_index,
                      {"decode": source.cpu_seconds, "track": step_cpu,
                       "write": out.cpu_seconds})
