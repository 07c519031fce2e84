"""The ``mast`` tracker: label propagation with a self-supervised MAST encoder.

Every frame is encoded once (LAB, downscaled by ``scale``, features at 1/4 of that).
Object probabilities are read from a bounded memory of reference frames with the same
two-stage search as in training (:func:`gazevos.models.mast.reconstruct`):

* long-term: frames ``anchor + long_term`` (thesis: frames 0 and 5), ``anchor`` being the
  first frame with a given mask, plus the ``max_given_refs`` latest later frames that came
  with a mask (objects added later, corrections);
* short-term: frames ``t - short_term`` (thesis: t-5, t-3, t-1).

Memory holds at most ``len(long_term) + max_given_refs + max(short_term)`` frames of
features whatever the video length.  An object given after a memory frame was stored
ignores that frame (its softmax is taken over the frames that know it).

``device`` puts the encoder and the memory on a GPU (the encoder under float16 autocast
there unless ``amp`` is False; the memory search in float32); masks come back as numpy
arrays on the CPU either way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gazevos.config import load_config, setting
from gazevos.devices import amp_enabled, autocast, resolve_device, restore_device
from gazevos.models.mast.model import (
    default_checkpoint,
    encode_image,
    load_checkpoint,
)
from gazevos.models.mast.propagate import SearchConfig, normalise_features, reconstruct
from gazevos.track.base import Prediction, Tracker


@dataclass(frozen=True)
class MastTrackerConfig:
    """Settings of the ``mast`` tracker (the architecture comes from the checkpoint).

    Attributes:
        scale: frames are resized by this factor before the encoder (internal resolution).
        max_pixels: ... and to at most this many pixels (0: no cap), so that a 1080p or
            1600x1200 scene video is encoded at about the size a 480p video is (854x480 at
            0.5 is 102,480 pixels): the cost of a step grows with the pixel count, and the
            search windows are in feature pixels.
        long_term: long-term references, as frame offsets after the first given mask.
        short_term: short-term references, as offsets back from the current frame.
        max_given_refs: later frames with a given mask kept as extra long-term references.
        search: two-stage search windows (``roi_window`` w, ``key_window`` w').
        drop_channel: zero this LAB channel (0 L, 1 a, 2 b) of the input; -1 keeps all.
        topk: keep only the ``topk`` best-matching memory keys of every pixel in the
            softmax (0: all keys, as in MAST).
        hard_memory: store each frame's argmax labels (one-hot, then area-pooled to the
            feature grid) in memory instead of its soft probabilities, so that a faint
            object does not fade further at every propagation step.
        temperature: softmax temperature of the key affinities at inference (0: the
            checkpoint's, i.e. the one it was trained with, 0.1 for the shipped model).
            The default 0.05 is sharper: soft masks fade less from frame to frame.
        roi_temperature: softmax temperature of the ROI localisation at inference (0: the
            checkpoint's, 0.1 for the shipped model).  The default 0.02 moves the ROI
            centre closer to the best match, so fast motion is followed
            (docs/experiments/mast.md).
        threads: torch threads (0: leave as is).
    """

    scale: float = setting(0.5, ge=0.05, le=2.0)
    max_pixels: int = setting(110_000, ge=0)
    long_term: tuple[int, ...] = setting((0, 5), ge=0, le=100_000)
    short_term: tuple[int, ...] = setting((5, 3, 1), ge=1, le=1000)
    max_given_refs: int = setting(2, ge=0, le=100)
    search: SearchConfig = SearchConfig()
    drop_channel: int = setting(-1, ge=-1, le=2)
    topk: int = setting(0, ge=0)
    hard_memory: bool = False
    temperature: float = setting(0.05, ge=0.0, le=100.0)
    roi_temperature: float = setting(0.02, ge=0.0, le=100.0)
    threads: int = setting(0, ge=0, le=1024)


@dataclass
class _Entry:
    """One memory frame: normalised ``feat (1, D, h, w)``, ``probs (K, h, w)`` for ``ids``,
    and what the search derives from ``feat`` alone (``cache``, see ``reconstruct``)."""

    index: int
    feat: torch.Tensor
    probs: torch.Tensor
    ids: tuple[int, ...]
    cache: dict[str, Any] = field(default_factory=dict)


class MastTracker(Tracker):
    """Memory-augmented self-supervised tracker (thesis chapter 4).

    Args:
        config: tracker settings.
        checkpoint: MAST weights (default: the shipped model).
        device: where the encoder and the memory live (``auto``, ``cpu``, ``cuda[:N]``;
            None: the CPU); see :func:`gazevos.devices.resolve_device`.
        amp: float16 autocast on CUDA (None: on there; ignored on the CPU).
    """

    name = "mast"
    config_cls = MastTrackerConfig

    @classmethod
    def from_options(cls, checkpoint: str | Path | None = None, config: str | Path | None = None,
                     device: str | torch.device | None = None, amp: bool | None = None,
                     **overrides: Any) -> MastTracker:
        return cls(load_config(MastTrackerConfig, config, overrides), checkpoint, device, amp)

    def __init__(self, config: MastTrackerConfig | None = None,
                 checkpoint: str | Path | None = None, device: str | torch.device | None = None,
                 amp: bool | None = None) -> None:
        super().__init__()
        self.config = config or MastTrackerConfig()
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        self.device = resolve_device(device)
        self.amp = amp_enabled(self.device, amp)
        self.model = load_checkpoint(checkpoint or default_checkpoint()).to(self.device)
        self.affinity = self.model.config.affinity
        if self.config.temperature > 0:
            self.affinity = replace(self.affinity, temperature=self.config.temperature)
        if self.config.roi_temperature > 0:
            self.affinity = replace(self.affinity, roi_temperature=self.config.roi_temperature)
        self._reset_memory()

    def _reset_memory(self) -> None:
        self._anchor: int | None = None
        self._long: dict[int, _Entry] = {}
        self._given: deque[_Entry] = deque(maxlen=max(self.config.max_given_refs, 0))
        self._short: dict[int, _Entry] = {}
        self._cache: tuple[int, torch.Tensor] | None = None

    def reset(self) -> None:
        super().reset()
        self._reset_memory()

    def _rebuild_transient(self) -> None:
        restore_device(self)  # a state saved on a GPU goes on there, or on the CPU

    @property
    def memory_size(self) -> int:
        """Number of distinct frames held in memory."""
        idx = set(self._long) | set(self._short) | {e.index for e in self._given}
        return len(idx)

    def input_scale(self, size: tuple[int, int]) -> float:
        """The resize factor of a frame of ``size`` ``(H, W)``: ``scale``, lowered so that
        the encoder's input has at most ``max_pixels`` pixels."""
        c = self.config
        if c.max_pixels > 0:
            return min(c.scale, float(np.sqrt(c.max_pixels / (size[0] * size[1]))))
        return c.scale

    def _encode(self, frame: np.ndarray) -> torch.Tensor:
        """``(1, D, h, w)`` normalised features of the current frame (computed once per
        frame)."""
        if self._cache is not None and self._cache[0] == self.frame_index:
            return self._cache[1]
        with autocast(self.device, self.amp):  # the encoder only: the search stays float32
            raw = encode_image(self.model, frame, self.input_scale(frame.shape[:2]),
                               self.config.drop_channel, self.device)
        feat = normalise_features(raw.float(), self.affinity)
        self._cache = (self.frame_index, feat)
        return feat

    def _references(self) -> list[_Entry]:
        t = self.frame_index
        refs: dict[int, _Entry] = {}
        for e in [*self._long.values(), *self._given]:
            refs[e.index] = e
        for off in self.config.short_term:
            e = self._short.get(t - off)
            if e is not None:
                refs[e.index] = e
        return [refs[i] for i in sorted(refs) if i < t]

    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        with torch.inference_mode():
            feat = self._encode(frame)
            refs = self._references()
            ids = list(self.object_ids)
            values, valid = [], []
            for e in refs:
                v = torch.zeros((1, len(ids), *feat.shape[-2:]), device=self.device)
                ok = torch.zeros(len(ids), dtype=torch.bool, device=self.device)
                for k, i in enumerate(ids):
                    if i in e.ids:
                        v[0, k] = e.probs[e.ids.index(i)]
                        ok[k] = True
                values.append(v)
                valid.append(ok)
            out = reconstruct(feat, [e.feat for e in refs], values,
                              [self.frame_index - e.index for e in refs], self.config.search,
                              self.affinity, valid=torch.stack(valid), topk=self.config.topk,
                              normalised=True, caches=[e.cache for e in refs])
            out = F.interpolate(out.float(), size=frame.shape[:2], mode="bilinear",
                                align_corners=False)[0].clamp_(0.0, 1.0).cpu().numpy()
        return {i: out[k] for k, i in enumerate(ids)}

    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        if not pred.object_ids:
            return
        with torch.inference_mode():
            feat = self._encode(frame)
            if self.config.hard_memory:
                lab = pred.labels
                probs = torch.from_numpy(np.stack([lab == i for i in pred.object_ids])
                                         .astype(np.float32)).unsqueeze(0)
            else:
                probs = torch.from_numpy(pred.probs[1:]).unsqueeze(0)
            probs = F.adaptive_avg_pool2d(probs.to(self.device), feat.shape[-2:])[0]
        t = self.frame_index
        entry = _Entry(t, feat, probs, tuple(pred.object_ids))
        if self._anchor is None:
            self._anchor = t
        if t - self._anchor in self.config.long_term:
            self._long[t] = entry
        elif given and self._given.maxlen != 0:
            self._given.append(entry)
        keep = max(self.config.short_term, default=0)
        self._short[t] = entry
        for i in [i for i in self._short if i <= t - keep]:
            del self._short[i]
        self._cache = None
