"""The ``fusion`` tracker: ``classic`` and ``mast`` run side by side, their answers fused.

On DAVIS-2016 dev the two cheap trackers fail on different videos (``classic`` loses the
dog of *libby*, ``mast`` the small fast car of *drift-chicane*), so one tracker owns a
:class:`~gazevos.track.classic.ClassicTracker` and a :class:`~gazevos.track.mast.MastTracker`,
steps both on every frame and fuses their object probabilities with weight ``w`` on
``classic`` and ``1 - w`` on ``mast`` (:class:`FusionConfig`):

* ``rule: logodds``: probabilities clipped to ``[floor, 1 - floor]``, then a weighted
  average of their logarithms, renormalised (log-linear pooling; for one object this is
  ``sigmoid(w * logit(a) + (1 - w) * logit(b))``);
* ``rule: mean``: the weighted mean ``w * a + (1 - w) * b``.

Two variants (``feedback``):

* *late fusion* (``feedback: false``): each sub-tracker tracks exactly as it would alone
  (its own memory, its own final masks); only the output is fused, over the
  ``(K + 1, H, W)`` distributions of the two predictions;
* *feedback fusion* (``feedback: true``): the sub-trackers' per-object probabilities are
  fused before the multi-object aggregation (on ``classic``'s work grid), and the fused
  prediction is what both remember: ``classic`` warps it as its next prior and samples its
  classifier's training pixels from it, ``mast`` stores it in its memory.  With
  ``revive``, an object ``classic`` marked lost but that the fused mask still holds is
  taken up again by ``classic`` (otherwise ``classic`` answers 0 for it until its own
  search re-finds it) - except an object ``classic`` lost at a view change (the wearer
  looked away): that one stays absent until ``classic`` finds it again.

The sub-trackers are driven through their ``_propagate`` / ``_memorize`` contract
(:class:`~gazevos.track.base.Tracker`) in the feedback variant; neither is changed, and with
``w = 1`` (``0``) either variant gives exactly ``classic``'s (``mast``'s) masks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gazevos.config import config_to_dict, load_config, setting
from gazevos.track.base import Prediction, Tracker, shrink
from gazevos.track.classic import ClassicTracker
from gazevos.track.classic.config import ClassicConfig
from gazevos.track.mast import MastTracker, MastTrackerConfig
from gazevos.track.registry import move_extractor


@dataclass(frozen=True)
class FusionConfig:
    """Settings of the ``fusion`` tracker (shipped preset: ``configs/fusion.yaml``).

    Attributes:
        weight: weight of ``classic`` in the fusion; ``mast`` gets ``1 - weight``
            (1: ``classic`` alone, 0: ``mast`` alone).
        rule: ``logodds`` (weighted average of log-probabilities, renormalised) or
            ``mean`` (weighted mean of probabilities).
        floor: ``logodds`` only: probabilities are clipped to ``[floor, 1 - floor]`` first,
            so a tracker that is certain (``classic`` answers exactly 0 for a lost object)
            cannot outvote any confidence of the other.
        feedback: the fused prediction is what both sub-trackers remember (their next
            prior / memory); false: each remembers its own (late fusion of the outputs).
        revive: ``feedback`` only: an object ``classic`` marked lost is taken up again when
            the fused mask holds at least ``classic``'s lost-area fraction of its
            reference area.
        parallel: ``feedback`` only: the two sub-trackers step in two threads (the same
            results; the second core works on ``classic`` while ``mast`` runs).
        classic: settings of the ``classic`` sub-tracker; by default ``classic``'s own
            defaults except ``band_stride: 1``, ``fit_defer: 0``, ``skip_agreement: 0``,
            ``reacquire_model: tracking``, ``reacquire_restart: false``,
            ``band_motion_gain: 2``, ``flow_check_photometric: 0``, ``boost_library: sklearn``,
            ``boost_min_leaf: 20``, ``recent_frames: 4``,
            ``reacquire_far_probability: 0.85`` and ``reacquire_min_similarity: 0.5``, the
            settings the
            fusion was cross-validated with (``classic``'s defaults changed after).
        mast: settings of the ``mast`` sub-tracker (its weights: the tracker's checkpoint).
    """

    weight: float = setting(0.4, ge=0.0, le=1.0)
    rule: str = setting("logodds", choices=("logodds", "mean"))
    floor: float = setting(0.01, ge=1e-6, lt=0.5)
    feedback: bool = True
    revive: bool = True
    parallel: bool = True
    classic: ClassicConfig = ClassicConfig(band_stride=1, fit_defer=0, skip_agreement=0.0,
                                           reacquire_model="tracking",
                                           reacquire_restart=False, band_motion_gain=2.0,
                                           flow_check_photometric=0.0,
                                           boost_library="sklearn", boost_min_leaf=20,
                                           recent_frames=4, reacquire_far_probability=0.85,
                                           reacquire_min_similarity=0.5)
    mast: MastTrackerConfig = MastTrackerConfig()


def _without_logodds(a: np.ndarray, b: np.ndarray, weight: float, rule: str
                     ) -> np.ndarray | None:
    """The fusions that need no log-odds: ``weight`` 1 (``a`` itself) or 0 (``b``), and the
    ``mean`` rule; None for the ``logodds`` rule.

    Raises:
        ValueError: an unknown rule.
    """
    if weight >= 1.0:
        return a
    if weight <= 0.0:
        return b
    if rule == "mean":
        return (weight * a + (1.0 - weight) * b).astype(np.float32)
    if rule != "logodds":
        raise ValueError(f"unknown fusion rule '{rule}'")
    return None


def fuse_objects(a: np.ndarray, b: np.ndarray, weight: float, rule: str = "logodds",
                 floor: float = 0.01) -> np.ndarray:
    """Fuse independent per-object foreground probabilities of two trackers.

    Args:
        a: ``(..., h, w)`` probabilities of the first tracker (``classic``), in [0, 1].
        b: the second tracker's (``mast``), same shape.
        weight: weight of ``a``; ``b`` gets ``1 - weight``.
        rule: ``logodds``: ``sigmoid(w * logit(a') + (1 - w) * logit(b'))`` with ``a', b'``
            clipped to ``[floor, 1 - floor]``; ``mean``: ``w * a + (1 - w) * b``.
        floor: clipping of the ``logodds`` rule.

    Returns:
        float32 array of the inputs' shape.  ``weight`` 1 (0) returns ``a`` (``b``) itself.
    """
    done = _without_logodds(a, b, weight, rule)
    if done is not None:
        return done
    ca = np.clip(a, floor, 1.0 - floor, dtype=np.float32)
    cb = np.clip(b, floor, 1.0 - floor, dtype=np.float32)
    z = weight * (np.log(ca) - np.log1p(-ca)) + (1.0 - weight) * (np.log(cb) - np.log1p(-cb))
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def fuse_distributions(a: np.ndarray, b: np.ndarray, weight: float, rule: str = "logodds",
                       floor: float = 0.01) -> np.ndarray:
    """Fuse two trackers' distributions over background and objects.

    Args:
        a: ``(K + 1, H, W)`` probabilities of the first tracker (``classic``), summing to 1
            over channels (channel 0 background).
        b: the second tracker's (``mast``), same shape.
        weight: weight of ``a``; ``b`` gets ``1 - weight``.
        rule: ``logodds``: ``softmax_c(w * log a'_c + (1 - w) * log b'_c)`` with ``a', b'``
            clipped to ``[floor, 1 - floor]`` (for ``K = 1`` the object's log-odds are the
            weighted mean of the two trackers'); ``mean``: ``w * a + (1 - w) * b``.
        floor: clipping of the ``logodds`` rule.

    Returns:
        ``(K + 1, H, W)`` float32 summing to 1 over channels; ``weight`` 1 (0) returns ``a``
        (``b``) itself.  Pixels where ``a`` and ``b`` are equal keep that distribution
        (given masks stay one-hot).
    """
    done = _without_logodds(a, b, weight, rule)
    if done is not None:
        return done
    z = weight * np.log(np.clip(a, floor, 1.0 - floor, dtype=np.float32))
    z += (1.0 - weight) * np.log(np.clip(b, floor, 1.0 - floor, dtype=np.float32))
    z -= z.max(axis=0, keepdims=True)
    out = np.exp(z, out=z)
    out /= out.sum(axis=0, keepdims=True)
    same = (a == b).all(axis=0)
    if same.any():
        out[:, same] = a[:, same]
    return out.astype(np.float32, copy=False)


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``fn(*args)`` and the wall seconds it took."""
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


class FusionTracker(Tracker):
    """``classic`` and ``mast`` stepped on every frame, their probabilities fused.

    Args:
        config: the settings (defaults: :class:`FusionConfig`).
        checkpoint: the MAST weights (default: the shipped model); also the encoder of
            ``classic``'s learned features when its config asks for them.
        device: where MAST (and ``classic``'s learned features) run; see
            :func:`gazevos.devices.resolve_device` (None: the CPU).
        amp: float16 autocast on CUDA (None: on there; ignored on the CPU).

    :attr:`seconds` has the stages ``classic``, ``mast`` (each sub-tracker's calls) and
    ``fuse``; in the feedback variant also the base class's ``propagate``, ``aggregate``
    and ``memorize``, which contain them.  Each sub-tracker keeps its own finer stages.
    """

    name = "fusion"
    config_cls = FusionConfig
    transient = ("_pool",)

    def _rebuild_transient(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_options(cls, checkpoint: str | Path | None = None, config: str | Path | None = None,
                     device: Any = None, amp: bool | None = None,
                     **overrides: Any) -> FusionTracker:
        """Build from CLI-style options: the MAST checkpoint, a YAML preset, overrides."""
        return cls(load_config(FusionConfig, config, overrides), checkpoint, device, amp)

    def __init__(self, config: FusionConfig | None = None,
                 checkpoint: str | Path | None = None, device: Any = None,
                 amp: bool | None = None) -> None:
        super().__init__()
        self.config = config or FusionConfig()
        classic = ClassicTracker.from_options(checkpoint=checkpoint,
                                              **config_to_dict(self.config.classic))
        assert isinstance(classic, ClassicTracker)
        self.classic: ClassicTracker = classic
        self.mast: MastTracker = MastTracker.from_options(
            checkpoint=checkpoint, device=device, amp=amp, **config_to_dict(self.config.mast))
        move_extractor(self.classic, self.mast.device, self.mast.amp)
        self._pool = None

    @property
    def trackers(self) -> tuple[ClassicTracker, MastTracker]:
        """The two sub-trackers, ``(classic, mast)``."""
        return self.classic, self.mast

    def reset(self) -> None:
        super().reset()
        for sub in self.trackers:
            sub.reset()

    # ------------------------------------------------------------------ late fusion
    def step(self, frame: np.ndarray, mask: np.ndarray | None = None,
             objects: Sequence[int] | None = None) -> Prediction:
        """Track one frame (see :meth:`Tracker.step`); both sub-trackers step on it."""
        if self.config.feedback:
            return super().step(frame, mask, objects)
        t = time.perf_counter()
        a = self.classic.step(frame, mask, objects)
        t = self._lap("classic", t)
        b = self.mast.step(frame, mask, objects)
        t = self._lap("mast", t)
        self.frame_index = self.classic.frame_index
        self._size = self.classic._size
        self.object_ids = list(a.object_ids)
        c = self.config
        pred = Prediction(fuse_distributions(a.probs, b.probs, c.weight, c.rule, c.floor),
                          a.object_ids)
        self._lap("fuse", t)
        return pred

    # ------------------------------------------------------------------ feedback fusion
    def _sync(self) -> None:
        """Give the sub-trackers this tracker's frame index, frame size and objects."""
        for sub in self.trackers:
            sub.frame_index = self.frame_index
            sub._size = self._size
            sub.object_ids = list(self.object_ids)

    def _on_both(self, method: str, *args: Any) -> tuple[Any, Any]:
        """``classic``'s and ``mast``'s ``method(*args)``; with ``parallel`` classic's runs
        in the worker thread while mast's runs here.  Their seconds go to :attr:`seconds`."""
        fn_a, fn_b = getattr(self.classic, method), getattr(self.mast, method)
        if self.config.parallel:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="gazevos-fusion")
            job = self._pool.submit(_timed, fn_a, *args)
            b, mast_s = _timed(fn_b, *args)
            a, classic_s = job.result()
        else:
            a, classic_s = _timed(fn_a, *args)
            b, mast_s = _timed(fn_b, *args)
        for stage, sec in (("classic", classic_s), ("mast", mast_s)):
            self.seconds[stage] = self.seconds.get(stage, 0.0) + sec
        return a, b

    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        """Per-object fused probabilities, ``(h, w)`` on ``classic``'s work grid."""
        self._sync()
        c = self.config
        fa, fb = self._on_both("_propagate", frame)
        t = time.perf_counter()
        if c.weight >= 1.0:
            return fa
        if c.weight <= 0.0:
            return fb
        out = {}
        for i in self.object_ids:
            if self._absent_in_classic(i):
                out[i] = fa[i]  # lost at a view change, not found again: absent
                continue
            a, b = fa[i], fb[i]
            if b.shape != a.shape:  # mast answers at the frame size: down to the work grid
                b = shrink(b, (a.shape[1], a.shape[0]))
            out[i] = fuse_objects(a, b, c.weight, c.rule, c.floor)
        self._lap("fuse", t)
        return out

    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        """Both sub-trackers remember the fused prediction; lost objects may be revived."""
        self._sync()
        self._on_both("_memorize", frame, pred, given)
        if self.config.revive and 0.0 < self.config.weight < 1.0:
            self._revive(pred)

    def _absent_in_classic(self, object_id: int) -> bool:
        """``classic`` lost the object at a view change (a cut, a fast head turn away) and
        has not found it again: the fusion takes its "absent" over ``mast``'s memory, which
        would match the new view (docs/experiments/lookaway.md)."""
        st = self.classic._objects.get(object_id)
        return st is not None and st.lost and getattr(st, "view_changed", False)

    def _revive(self, pred: Prediction) -> None:
        """Take up again, in ``classic``, the lost objects the fused mask still holds.

        ``classic`` has just remembered ``pred`` (its per-object ``prob`` is the fused
        probability on its work grid): an object it marked lost whose fused area there is at
        least ``lost_area_fraction`` of its reference (median recent) area is tracked from
        that mask on the next frame instead of being searched for.
        """
        frac = self.classic.config.lost_area_fraction
        for i in pred.object_ids:
            st = self.classic._objects.get(i)
            if (st is None or not st.lost or not st.model.fitted
                    or self._absent_in_classic(i)):
                continue
            area = int(np.count_nonzero(st.prob > 0.5))
            ref = float(np.median(st.areas)) if st.areas else 0.0
            if area > 0 and area >= frac * ref:
                st.lost = False
