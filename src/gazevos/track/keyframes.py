"""Keyframes in both directions: label a stretch of video from masks given on some frames.

A *keyframe* is a frame whose whole label map the user has given (a first marking or a
correction).  :func:`track_keyframes` labels every frame of a span from the keyframes:

* a keyframe gets exactly its mask (confidence 1 for the objects in it);
* a frame between two keyframes ``a < t < b`` is predicted **forward** from ``a`` (a fresh
  tracker given ``a``'s mask, stepped through ``a+1 .. t``) and **backward** from ``b`` (a
  fresh tracker given ``b``'s mask, stepped through ``b-1 .. t`` — the trackers do not
  care about the order of frames), and the two predictions are fused (:func:`fuse`);
* a frame after the last keyframe is predicted forward only;
* a frame before the first keyframe is predicted backward from it (``before_first=
  "backward"``, the default: objects are usually there before the frame a user happens to
  mark them on, and a tracker that loses one reports a low confidence) or is background
  (``before_first="background"``).

Every stretch between neighbouring keyframes is tracked by trackers started fresh at its
two ends, so the labels of a frame depend only on the frames and masks of its two
neighbouring keyframes: adding, changing or removing keyframe ``k`` changes only the frames
of :func:`affected_range`, bit for bit.

Fusion (``fusion=``): every object gets a forward weight and a backward weight summing to
one (:func:`fusion_weights`) — by the object's confidence in each direction
(``"confidence"``, :func:`gazevos.track.base.object_confidence`), linearly by the
distance in frames to each keyframe (``"distance"``) or by both (``"product"``) — and
the fused distribution is the per-pixel weighted mean of the two directions'
``(K+1, H, W)`` distributions (:func:`fuse`).  BENCHMARKS.md ("Keyframes in both
directions") compares them on DAVIS.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from gazevos.errors import GazevosError
from gazevos.track.base import Prediction, Tracker, object_confidence

FUSIONS = ("confidence", "distance", "product")
BEFORE_FIRST = ("backward", "background")
#: the fusion :func:`track_keyframes` uses unless told: chosen by two-fold cross-validation
#: over the DAVIS-2016 dev sequences (BENCHMARKS.md, "Keyframes in both directions"):
#: ``product`` won on both folds for ``classic`` (``confidence`` alone was last)
DEFAULT_FUSION = "product"
#: a small share of the distance weight added to confidence weights, so that two directions
#: that both lost an object are blended by distance rather than 0/0
_DISTANCE_TIE = 1e-3
#: backward predictions of one stretch up to this many bytes stay in memory; larger ones go
#: to a temporary file (memory bounded on long stretches of 1080p video)
_IN_MEMORY_BYTES = 256 << 20

#: ``write(frame_index, labels (H, W) uint8, {object_id: confidence})``
Write = Callable[[int, np.ndarray, dict[int, float]], None]
#: ``progress(done, total)``
Progress = Callable[[int, int], None]


@runtime_checkable
class FrameReader(Protocol):
    """Random access to the frames of a video (see :mod:`gazevos.io.frame_reader`)."""

    def __len__(self) -> int:
        """Number of frames."""

    def get(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3)`` uint8 RGB."""


def _neighbours(keyframes: Sequence[int], k: int) -> tuple[int | None, int | None]:
    """The keyframes just before and just after ``k`` (``k`` itself excluded)."""
    prev = max((int(f) for f in keyframes if int(f) < k), default=None)
    nxt = min((int(f) for f in keyframes if int(f) > k), default=None)
    return prev, nxt


def affected_range(keyframes: Sequence[int], k: int, n_frames: int) -> tuple[int, int]:
    """Frames ``[start, stop)`` whose masks can change when keyframe ``k`` is added, changed
    or removed: from the previous keyframe (exclusive; 0 if none) to the next keyframe
    (exclusive; ``n_frames`` if none).  ``k`` itself may or may not be in ``keyframes``.

    Raises:
        GazevosError: ``k`` outside ``0 .. n_frames - 1``.
    """
    if not 0 <= k < n_frames:
        raise GazevosError(f"keyframe {k} is outside the video's frames 0..{n_frames - 1}")
    prev, nxt = _neighbours(keyframes, k)
    return (0 if prev is None else prev + 1), (n_frames if nxt is None else nxt)


def fusion_weights(fusion: str, t: int, a: int, b: int, conf_forward: float | None,
                   conf_backward: float | None) -> tuple[float, float]:
    """Forward and backward weights (summing to 1) of one object at frame ``t``, ``a < t < b``.

    ``"distance"``: ``(df, db) = ((b - t) / (b - a), (t - a) / (b - a))`` — the nearer
    keyframe counts more.  ``"confidence"``: proportional to the object's confidence in
    each direction, ``(cf, cb)`` (plus a tie-breaking 0.1 % of the distance weights).
    ``"product"``: proportional to ``(cf * df, cb * db)`` (distance as a prior, confidence
    as evidence; distance alone when both confidences are 0).  When the object is not
    tracked in one direction (absent from that keyframe: ``None``): the distance weights.
    """
    if fusion not in FUSIONS:
        raise GazevosError(f"unknown fusion '{fusion}' (choose from {', '.join(FUSIONS)})")
    df, db = (b - t) / (b - a), (t - a) / (b - a)
    if fusion == "distance" or conf_forward is None or conf_backward is None:
        return df, db
    if fusion == "product":
        wf, wb = conf_forward * df, conf_backward * db
        if wf + wb <= 0.0:
            return df, db
    else:
        wf = conf_forward + _DISTANCE_TIE * df
        wb = conf_backward + _DISTANCE_TIE * db
    return wf / (wf + wb), wb / (wf + wb)


def fuse(forward: Prediction, backward: Prediction, t: int, a: int, b: int,
         fusion: str = DEFAULT_FUSION,
         conf_forward: Mapping[int, float] | None = None,
         conf_backward: Mapping[int, float] | None = None) -> Prediction:
    """Fuse the forward and backward predictions of frame ``t`` (keyframes ``a < t < b``).

    Each object ``i`` of either prediction gets weights ``(wf_i, wb_i)`` from
    :func:`fusion_weights`; the fused ``(K + 1, H, W)`` distribution over the union of
    objects is ``wf_i * pf_i + wb_i * pb_i`` per object channel (an object a direction
    does not track has probability 0 there), background mixed with the mean weights
    ``(mean wf, mean wb)``, and renormalised per pixel.

    Args:
        forward, backward: the two predictions (``probs`` ``(K+1, H, W)``) of frame ``t``.
        conf_forward, conf_backward: per-object confidences (default: computed by
            :func:`object_confidence`).

    Returns:
        the fused :class:`Prediction`.
    """
    cf = object_confidence(forward) if conf_forward is None else conf_forward
    cb = object_confidence(backward) if conf_backward is None else conf_backward
    ids = tuple(sorted(set(forward.object_ids) | set(backward.object_ids)))
    shape = forward.probs.shape[1:]
    probs = np.zeros((len(ids) + 1, *shape), dtype=np.float32)
    wfs, wbs = [], []
    for k, i in enumerate(ids, start=1):
        wf, wb = fusion_weights(fusion, t, a, b,
                                cf.get(i) if i in forward.object_ids else None,
                                cb.get(i) if i in backward.object_ids else None)
        wfs.append(wf)
        wbs.append(wb)
        if i in forward.object_ids:
            probs[k] += wf * forward.prob(i)
        if i in backward.object_ids:
            probs[k] += wb * backward.prob(i)
    if ids:
        wf0, wb0 = float(np.mean(wfs)), float(np.mean(wbs))
    else:
        wf0, wb0 = fusion_weights("distance", t, a, b, None, None)
    probs[0] = wf0 * forward.probs[0] + wb0 * backward.probs[0]
    probs /= np.maximum(probs.sum(axis=0, keepdims=True), 1e-12)
    return Prediction(probs, ids)


class _Store:
    """Predictions of one direction for frames ``lo .. hi``, quantised to uint8 (in memory
    or, when large, in a temporary file)."""

    def __init__(self, lo: int, hi: int, channels: int, shape: tuple[int, int],
                 ids: tuple[int, ...], tmpdir: str) -> None:
        self.lo, self.ids = lo, ids
        n = hi - lo + 1
        size = n * channels * shape[0] * shape[1]
        if size <= _IN_MEMORY_BYTES:
            self.q = np.empty((n, channels, *shape), dtype=np.uint8)
        else:
            self.q = np.lib.format.open_memmap(f"{tmpdir}/backward.npy", mode="w+",
                                               dtype=np.uint8, shape=(n, channels, *shape))
        self.conf: list[dict[int, float] | None] = [None] * n

    def put(self, t: int, pred: Prediction) -> None:
        self.q[t - self.lo] = np.rint(pred.probs * 255.0).astype(np.uint8)
        self.conf[t - self.lo] = object_confidence(pred)

    def get(self, t: int) -> tuple[Prediction, dict[int, float]]:
        probs = self.q[t - self.lo].astype(np.float32)
        probs /= np.maximum(probs.sum(axis=0, keepdims=True), 1.0)
        conf = self.conf[t - self.lo]
        assert conf is not None
        return Prediction(probs, self.ids), conf


def _check_mask(mask: np.ndarray, frame: int, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != shape or mask.dtype != np.uint8:
        raise GazevosError(f"keyframe {frame}: mask must be ({shape[0]}, {shape[1]}) uint8, "
                           f"got {mask.shape} {mask.dtype}")
    if (mask == 255).any():
        raise GazevosError(f"keyframe {frame}: mask holds 255 (void); object ids are 1..254")
    return mask


def _confidences(mask: np.ndarray) -> dict[int, float]:
    return {int(i): 1.0 for i in np.unique(mask) if i != 0}


class _Job:
    """Bookkeeping of one :func:`track_keyframes` call: reading, stepping, progress."""

    def __init__(self, frames: FrameReader, factory: Callable[[], Tracker], write: Write,
                 progress: Progress | None, total: int) -> None:
        self.frames, self.factory, self.write = frames, factory, write
        self.progress, self.total, self.done = progress, total, 0

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def emit(self, t: int, labels: np.ndarray, conf: dict[int, float]) -> None:
        self.write(t, np.ascontiguousarray(labels, dtype=np.uint8), conf)

    def run(self, start: int, mask: np.ndarray, order: range,
            on_pred: Callable[[int, Prediction], None]) -> None:
        """A fresh tracker given ``mask`` at frame ``start``, then stepped through ``order``."""
        def step(t: int, pred: Prediction) -> None:
            on_pred(t, pred)
            self.tick()

        track_range(self.frames, self.factory(), start, mask, order.stop, step)


def track_range(frames: FrameReader, tracker: Tracker, start: int, mask: np.ndarray,
                stop: int, on_pred: Callable[[int, Prediction], None]) -> None:
    """Track from frame ``start`` (given ``mask``) towards ``stop`` (exclusive), forward
    when ``stop > start``, backward (frames fed in decreasing order) when ``stop < start``.

    The tracker is reset first; ``on_pred(t, prediction)`` is called for every frame
    ``t`` after ``start`` (``start + 1 .. stop - 1`` or ``start - 1 .. stop + 1``).
    Trackers only see an order of frames, so a backward pass is an ordinary pass over
    the reversed frames.

    Args:
        frames: random access to the frames (``(H, W, 3)`` uint8 RGB).
        tracker: the tracker to use (reset here).
        start: the frame of ``mask``.
        mask: ``(H, W)`` uint8 label map given at ``start``.
        stop: the frame where to stop (exclusive; -1 to run backward to frame 0).
        on_pred: receives each frame's index and :class:`Prediction`.
    """
    tracker.reset()
    tracker.step(frames.get(start), mask=mask)
    for t in range(start + 1, stop) if stop > start else range(start - 1, stop, -1):
        on_pred(t, tracker.step(frames.get(t)))


def _plan(keys: list[int], lo: int, hi: int, n_frames: int, before_first: str) -> int:
    """Work units (tracker steps, keyframes and background frames written) of a call."""
    if not keys:
        return hi - lo
    total = sum(1 for k in keys if lo <= k < hi)
    first, last = keys[0], keys[-1]
    if lo < first:  # before the first keyframe
        total += (first - lo) if before_first == "backward" else (min(first, hi) - lo)
    if hi > last + 1:  # after the last: forward from it
        total += hi - 1 - last
    for a, b in zip(keys, keys[1:], strict=False):
        s, e = max(a + 1, lo), min(b - 1, hi - 1)
        if s <= e:
            total += (b - s) + (e - a)  # backward b-1..s, forward a+1..e
    return total


def track_keyframes(frames: FrameReader, keyframes: Mapping[int, np.ndarray],
                    tracker_factory: Callable[[], Tracker], n_frames: int, *,
                    span: tuple[int, int] | None = None, fusion: str = DEFAULT_FUSION,
                    write: Write, progress: Progress | None = None,
                    before_first: str = "backward") -> None:
    """Label every frame in ``span`` (default: all) from the keyframes.

    Args:
        frames: random access to the video's frames (``(H, W, 3)`` uint8 RGB).
        keyframes: ``{frame: (H, W) uint8 label map}``, object ids 1..254, 0 background.
        tracker_factory: builds a fresh tracker (one per tracking pass).
        n_frames: frames in the video (``<= len(frames)``).
        span: ``(start, stop)``: label frames ``start .. stop - 1`` only (e.g. the
            :func:`affected_range` of a correction).
        fusion: ``"confidence"`` or ``"distance"`` (see :func:`fusion_weights`).
        write: called once per frame of the span with ``(frame_index, labels (H, W) uint8,
            {object_id: confidence in [0, 1]})`` — frames between keyframes in increasing
            order, frames before the first keyframe in decreasing order.
        progress: ``progress(done, total)`` after each frame tracked or written; ``total``
            counts every tracker step (a stretch between keyframes is tracked in both
            directions), ``done == total`` at the end.
        before_first: frames before the first keyframe: ``"backward"`` (tracked backward
            from it) or ``"background"``.

    Raises:
        GazevosError: bad span, keyframe outside the video, mask of the wrong shape or
            type, unknown fusion; errors of the tracker or the frame reader.
    """
    if fusion not in FUSIONS:
        raise GazevosError(f"unknown fusion '{fusion}' (choose from {', '.join(FUSIONS)})")
    if before_first not in BEFORE_FIRST:
        raise GazevosError(f"unknown before_first '{before_first}' (choose from "
                           f"{', '.join(BEFORE_FIRST)})")
    if n_frames < 1 or n_frames > len(frames):
        raise GazevosError(f"n_frames {n_frames} is outside 1..{len(frames)} (the frames read)")
    lo, hi = (0, n_frames) if span is None else (int(span[0]), int(span[1]))
    if not 0 <= lo <= hi <= n_frames:
        raise GazevosError(f"span {lo}..{hi} is outside the video's frames 0..{n_frames}")
    if lo == hi:
        return
    shape = frames.get(lo).shape[:2]
    keys = sorted(int(k) for k in keyframes)
    for k in keys:
        if not 0 <= k < n_frames:
            raise GazevosError(f"keyframe {k} is outside the video's frames 0..{n_frames - 1}")
    masks = {k: _check_mask(keyframes[k], k, shape) for k in keys}
    job = _Job(frames, tracker_factory, write, progress,
               _plan(keys, lo, hi, n_frames, before_first))

    def background(t: int) -> None:
        job.emit(t, np.zeros(shape, dtype=np.uint8), {})
        job.tick()

    if not keys:
        for t in range(lo, hi):
            background(t)
        return
    first = keys[0]
    if lo < first:
        if before_first == "background":
            for t in range(lo, min(first, hi)):
                background(t)
        else:
            def emit_before(t: int, pred: Prediction) -> None:
                if t < hi:
                    job.emit(t, pred.labels, object_confidence(pred))
            job.run(first, masks[first], range(first - 1, lo - 1, -1), emit_before)
    def emit_after(t: int, pred: Prediction) -> None:
        if t >= lo:
            job.emit(t, pred.labels, object_confidence(pred))

    for a, b in zip([None, *keys], [*keys, None], strict=True):
        if a is not None and b is None:  # after the last keyframe: forward only
            if hi > a + 1:
                job.run(a, masks[a], range(a + 1, hi), emit_after)
        elif a is not None and b is not None:
            s, e = max(a + 1, lo), min(b - 1, hi - 1)
            if s <= e:
                _between(job, a, b, s, e, masks, fusion, shape)
        if b is not None and lo <= b < hi:
            job.emit(b, masks[b], _confidences(masks[b]))
            job.tick()


def _between(job: _Job, a: int, b: int, s: int, e: int, masks: Mapping[int, np.ndarray],
             fusion: str, shape: tuple[int, int]) -> None:
    """Frames ``s .. e`` of the stretch between keyframes ``a < b``: backward from ``b``
    (stored), then forward from ``a`` fused with it, written in increasing order."""
    ids_b = tuple(int(i) for i in np.unique(masks[b]) if i != 0)
    with tempfile.TemporaryDirectory(prefix="gazevos-keyframes-") as tmpdir:
        store = _Store(s, e, len(ids_b) + 1, shape, ids_b, tmpdir)

        def keep(t: int, pred: Prediction) -> None:
            if t <= e:
                if pred.object_ids != ids_b:  # a tracker keeps the given objects
                    raise GazevosError(f"tracker changed its objects on frame {t}")
                store.put(t, pred)

        job.run(b, masks[b], range(b - 1, s - 1, -1), keep)

        def fused(t: int, pred: Prediction) -> None:
            if t < s:
                return
            back, conf_b = store.get(t)
            out = fuse(pred, back, t, a, b, fusion, object_confidence(pred), conf_b)
            job.emit(t, out.labels, object_confidence(out))

        job.run(a, masks[a], range(a + 1, e + 1), fused)


__all__ = ["BEFORE_FIRST", "DEFAULT_FUSION", "FUSIONS", "FrameReader", "affected_range", "fuse",
           "fusion_weights", "track_keyframes", "track_range"]
