"""Tracker base class: object bookkeeping, given masks, and soft aggregation over objects."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from gazevos.config import load_config
from gazevos.errors import GazevosError
from gazevos.track.grid import GridResampler, argmax_labels, halving_sizes

_EPS = 1e-6


def aggregate(fg: np.ndarray) -> np.ndarray:
    """Soft-aggregate independent per-object probabilities into one distribution.

    Background is the probability that no object is present, ``prod_k (1 - p_k)``; the
    K + 1 probabilities are then turned into logits and renormalised with a softmax, so
    that overlapping objects compete (the multi-object merge of RGMP/STM/RANet).  Since
    ``exp(logit(p)) = p / (1 - p)``, the softmax is computed as normalised odds.

    Args:
        fg: ``(K, H, W)`` per-object foreground probabilities in [0, 1].

    Returns:
        ``(K + 1, H, W)`` float32, channel 0 background, summing to 1 over channels.
    """
    fg = np.clip(np.asarray(fg, dtype=np.float32), _EPS, 1.0 - _EPS)
    if fg.ndim != 3:
        raise ValueError(f"fg must be (K, H, W), got shape {fg.shape}")
    p = np.empty((fg.shape[0] + 1, *fg.shape[1:]), dtype=np.float32)
    if fg.shape[0] == 0:
        p[0] = 1.0
        return p
    np.subtract(1.0, fg[0], out=p[0])
    for k in range(1, fg.shape[0]):
        p[0] *= 1.0 - fg[k]
    p[1:] = fg
    np.clip(p, _EPS, 1.0 - _EPS, out=p)
    odds = np.divide(p, 1.0 - p, out=p)
    odds /= odds.sum(axis=0, keepdims=True)
    return odds


def upsample(probs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(C, h, w)`` probabilities to ``(C, H, W)`` (``size = (H, W)``).

    A convex combination of distributions is a distribution, so channels that sum to one
    still do.
    """
    out = np.empty((probs.shape[0], *size), dtype=np.float32)
    for k in range(probs.shape[0]):
        cv2.resize(np.ascontiguousarray(probs[k], dtype=np.float32), (size[1], size[0]),
                   dst=out[k], interpolation=cv2.INTER_LINEAR)
    return out


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average ``image`` (``(H, W)`` or ``(H, W, C)``) down to ``size = (w, h)``, fast.

    OpenCV's ``INTER_AREA`` is fast only for whole-number ratios (854x480 -> 427x240);
    for others (1920x1080 -> 442x249) it costs 15-25 ms a frame.  The image is first
    halved with ``INTER_AREA`` (a whole-number ratio) while it stays at least twice the
    target, then area-resized to ``size``: within a grey level or so of the direct result.
    """
    w, h = size
    for hh, ww in halving_sizes(image.shape[:2], (h, w))[1:]:
        image = cv2.resize(image[: 2 * hh, : 2 * ww], (ww, hh), interpolation=cv2.INTER_AREA)
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Prediction:
    """A tracker's answer for one frame.

    Attributes:
        probs: ``(K + 1, H, W)`` float32; channel 0 is background, channel k the object
            ``object_ids[k - 1]``; sums to 1 over channels.
        object_ids: the K tracked object ids, ascending.
    """

    probs: np.ndarray
    object_ids: tuple[int, ...]

    @cached_property
    def labels(self) -> np.ndarray:
        """``(H, W)`` uint8 label map: argmax over background and objects, as object ids."""
        return argmax_labels(self.probs, self.object_ids)

    def prob(self, object_id: int) -> np.ndarray:
        """``(H, W)`` probability of one object."""
        return self.probs[1 + self.object_ids.index(object_id)]

    @cached_property
    def confidence(self) -> dict[int, float]:
        """``{object_id: confidence in [0, 1]}``: see :func:`object_confidence`."""
        return object_confidence(self)


class GridPrediction(Prediction):
    """A prediction made on a work grid, at the frame size only where asked.

    ``labels`` come from :meth:`GridResampler.labels` and :meth:`grid_prob` from
    :meth:`GridResampler.round_trip`; ``probs`` (the bilinear upsampling of the grid's
    distribution to the frame) is made on first use.  The values are those of a
    :class:`Prediction` of ``upsample(grid_probs, frame size)``, to float rounding.

    Args:
        grid_probs: ``(K + 1, h, w)`` float32 distribution on the work grid.
        object_ids: the K tracked object ids, ascending.
        resampler: the :class:`GridResampler` from ``(h, w)`` to the frame size.
    """

    def __init__(self, grid_probs: np.ndarray, object_ids: tuple[int, ...],
                 resampler: GridResampler) -> None:
        if grid_probs.shape[1:] != resampler.grid:
            raise ValueError(f"grid probabilities {grid_probs.shape} do not match the "
                             f"resampler's grid {resampler.grid}")
        object.__setattr__(self, "grid_probs", grid_probs)
        object.__setattr__(self, "object_ids", tuple(object_ids))
        object.__setattr__(self, "resampler", resampler)

    @cached_property
    def probs(self) -> np.ndarray:  # type: ignore[override]
        """``(K + 1, H, W)`` float32 frame-size distribution (made on first use)."""
        return upsample(self.grid_probs, self.resampler.frame)

    @cached_property
    def labels(self) -> np.ndarray:
        """``(H, W)`` uint8 label map (see :meth:`GridResampler.labels`)."""
        return self.resampler.labels(self.grid_probs, self.object_ids)

    def grid_prob(self, object_id: int, grid: tuple[int, int]) -> np.ndarray | None:
        """``(h, w)`` float32 ``shrink(self.prob(object_id), grid)`` without the frame-size
        probabilities, or None when ``grid`` is not this prediction's work grid."""
        if tuple(grid) != self.resampler.grid:
            return None
        return self.resampler.round_trip(self.grid_probs[1 + self.object_ids.index(object_id)])


#: an object whose :func:`object_confidence` on a frame is below this is "low confidence"
#: there (timeline lanes, tracking tables)
LOW_CONFIDENCE = 0.5


def object_confidence(pred: Prediction) -> dict[int, float]:
    """How sure a prediction is of each object, from its probabilities alone (any tracker).

    The confidence of object ``i`` is ``mean(p_i) * min(1, area / 16)`` over the pixels
    labelled ``i`` (its predicted mask), ``p_i`` the object's probability there: the mean
    max-probability inside the mask.  A
    mask of fewer than 16 pixels is scaled down (a few stray pixels are not a confident
    object); an object with no pixel has confidence 0.  Given masks have confidence 1.

    Args:
        pred: a prediction with ``probs`` ``(K + 1, H, W)``.

    Returns:
        ``{object_id: float in [0, 1]}`` for every id in ``pred.object_ids``.
    """
    labels = pred.labels
    out: dict[int, float] = {}
    for k, i in enumerate(pred.object_ids, start=1):
        inside = labels == i
        area = int(np.count_nonzero(inside))
        if area == 0:
            out[i] = 0.0
            continue
        mean = float(pred.probs[k][inside].mean(dtype=np.float64))
        out[i] = float(np.clip(mean * min(1.0, area / 16.0), 0.0, 1.0))
    return out


class Tracker(ABC):
    """A semi-supervised video object tracker, one instance per video.

    Call :meth:`step` once per frame, in order.  A ``mask`` (``(H, W)`` object ids, 0
    background, 255 void) given at any frame (re)initialises the objects it contains;
    objects already tracked and absent from it go on being tracked, except where the
    given mask claims their pixels.  Before any object is given, frames come back as all
    background.

    Subclasses implement :meth:`_propagate` (predict tracked objects in a new frame) and
    :meth:`_memorize` (remember the frame and its final prediction).
    """

    #: registry name
    name: ClassVar[str] = "base"
    #: the frozen config dataclass of this tracker (None: no settings)
    config_cls: ClassVar[type | None] = None
    #: attributes that cannot be pickled (OpenCV objects): left out of a saved state and
    #: rebuilt by :meth:`_rebuild_transient` when it is loaded
    transient: ClassVar[tuple[str, ...]] = ()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in (*self.transient, "_resampler"):    # the resampler is rebuilt on use
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rebuild_transient()

    def _rebuild_transient(self) -> None:
        """Recreate the :attr:`transient` attributes after loading a saved state."""
        return None

    @classmethod
    def from_options(cls, checkpoint: str | Path | None = None, config: str | Path | None = None,
                     **overrides: Any) -> Tracker:
        """Build from CLI-style options: a checkpoint, a YAML preset and overrides."""
        if cls.config_cls is None:
            if config is not None or any(v is not None for v in overrides.values()):
                raise GazevosError(f"tracker '{cls.name}' takes no settings")
            return cls()
        return cls(load_config(cls.config_cls, config, overrides))  # type: ignore[call-arg]

    def __init__(self) -> None:
        self.object_ids: list[int] = []
        self.frame_index = -1
        self._size: tuple[int, int] | None = None
        #: wall seconds spent per stage since the last reset (``propagate``, ``aggregate``,
        #: ``memorize``, and a tracker's own finer stages); for the speed benchmarks
        self.seconds: dict[str, float] = {}

    def reset(self) -> None:
        """Forget everything: the next :meth:`step` starts a new video."""
        self.object_ids = []
        self.frame_index = -1
        self._size = None
        self.seconds = {}

    def prepare(self, image: np.ndarray) -> None:
        """Optional work on a frame before its :meth:`step`, called from another thread
        with the frames in order while the tracker steps earlier ones (a pass that decodes
        ahead does this).  What a step makes of it must equal what it would compute itself;
        the default does nothing."""
        return None

    def _lap(self, stage: str, t0: float) -> float:
        """Add the time since ``t0`` (``time.perf_counter``) to ``stage``; returns now."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - t0
        return now

    def step(self, frame: np.ndarray, mask: np.ndarray | None = None,
             objects: Sequence[int] | None = None) -> Prediction:
        """Track one frame.

        Args:
            frame: ``(H, W, 3)`` uint8 RGB image.
            mask: optional ``(H, W)`` label map with given objects for this frame.
            objects: the ids in ``mask`` to take as given (default: all ids in it).

        Returns:
            The :class:`Prediction` for this frame.

        Raises:
            GazevosError: frame or mask of the wrong shape, or a given id absent from mask.
        """
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise GazevosError(f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} "
                               f"{frame.dtype}")
        h, w = frame.shape[:2]
        if self._size is None:
            self._size = (h, w)
        elif self._size != (h, w):
            raise GazevosError(f"frame size {w}x{h} differs from the video's "
                               f"{self._size[1]}x{self._size[0]}")
        self.frame_index += 1

        given: dict[int, np.ndarray] = {}
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (h, w):
                raise GazevosError(f"mask size {mask.shape[1]}x{mask.shape[0]} differs from "
                                   f"frame size {w}x{h}")
            present = [int(i) for i in np.unique(mask) if 0 < i < 255]
            ids = present if objects is None else [int(i) for i in objects]
            for i in ids:
                if i not in present:
                    raise GazevosError(f"object id {i} is not in the given mask")
                if not 0 < i < 255:
                    raise GazevosError(f"object id {i} is outside 1..254")
                given[i] = mask == i

        tracked = [i for i in self.object_ids if i not in given]
        fg: dict[int, np.ndarray] = {}
        t = time.perf_counter()
        if tracked:
            out = self._propagate(frame)
            t = self._lap("propagate", t)
            for i in tracked:
                fg[i] = out[i]
            small = {fg[i].shape for i in tracked}
            grid = next(iter(small))
            if not given and len(small) == 1 and grid != (h, w) and grid[0] <= h \
                    and grid[1] <= w:
                # the tracker answered on its work grid: aggregate there; labels and the
                # frame-size probabilities come from the grid when asked (GridPrediction)
                coarse = aggregate(np.stack([fg[i] for i in self.object_ids]))
                rs = getattr(self, "_resampler", None)
                if rs is None or rs.grid != grid or rs.frame != (h, w):
                    rs = self._resampler = GridResampler(grid, (h, w))
                pred = GridPrediction(coarse, tuple(self.object_ids), rs)
                t = self._lap("aggregate", t)
                self._memorize(frame, pred, set())
                self._lap("memorize", t)
                return pred
            for i in tracked:
                if fg[i].shape != (h, w):
                    fg[i] = cv2.resize(fg[i], (w, h), interpolation=cv2.INTER_LINEAR)
        if given:
            claimed = np.zeros((h, w), dtype=bool)
            for m in given.values():
                claimed |= m
            for i in tracked:
                fg[i] = np.where(claimed, 0.0, fg[i]).astype(np.float32)
            for i, m in given.items():
                fg[i] = m.astype(np.float32)
        self.object_ids = sorted(set(self.object_ids) | set(given))
        if not self.object_ids:
            return Prediction(np.ones((1, h, w), dtype=np.float32), ())
        stack = np.stack([fg[i] for i in self.object_ids])
        probs = aggregate(stack)
        if given:
            # given pixels are certain: make them exactly one-hot
            for k, i in enumerate(self.object_ids):
                if i in given:
                    probs[:, given[i]] = 0.0
                    probs[k + 1, given[i]] = 1.0
        pred = Prediction(probs, tuple(self.object_ids))
        t = self._lap("aggregate", t)
        self._memorize(frame, pred, set(given))
        self._lap("memorize", t)
        return pred

    @abstractmethod
    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        """Predict every tracked object in a new frame.

        Args:
            frame: ``(H, W, 3)`` uint8 RGB.

        Returns:
            ``{object_id: (H, W) float32 foreground probability}`` for every id in
            ``self.object_ids``; or all of them ``(h, w)`` on a smaller work grid: the
            objects are then aggregated there and the result upsampled (cheaper than
            upsampling each object and aggregating at the frame size).
        """

    @abstractmethod
    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        """Remember ``frame`` with its final prediction (``given``: ids set from a mask)."""
