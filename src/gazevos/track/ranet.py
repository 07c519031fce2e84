"""The ``ranet`` tracker: RANet (thesis chapter 3) behind the :class:`Tracker` API.

Per object, the template is the latest frame where the object was given (first-frame
masks and objects added later alike): its embedding pooled to the template grid and its
mask.  Every new frame is encoded once and decoded once per object (batched), with

* M(t-1): the object's previous probability map as the decoder's mask input (switch
  ``prev_mask``; off: the template mask is fed instead, thesis Table 3.1);
* bounding-box crop (``bbox_crop``): the tight box of all objects' previous masks,
  enlarged ``bbox_scale`` times about its centre and widened to the network's aspect
  ratio, is cropped and resized to ``input_size``; outside it objects get 0.

Per-object sigmoid outputs are merged by the base class (softmax over objects and
background, :func:`gazevos.track.base.aggregate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from gazevos.config import load_config
from gazevos.errors import GazevosError
from gazevos.models.ranet.checkpoint import default_checkpoint, load_with_input_size
from gazevos.models.ranet.model import RANet, normalise_image
from gazevos.track.base import Prediction, Tracker


@dataclass(frozen=True)
class RanetTrackerConfig:
    """Settings of the ``ranet`` tracker.

    Attributes:
        input_size: ``(H, W)`` network input, sides divisible by 32; ``(0, 0)``: the
            checkpoint's training size (480x864 for the released weights).
        prev_mask: feed M(t-1) to the decoder (else the template mask).
        prev_threshold: > 0: feed M(t-1) binarised at this probability (training feeds
            binary masks); 0: feed the probabilities.
        bbox_crop: crop around the previous masks.
        bbox_scale: enlargement of the tight box (thesis: 1.5).
        template_crop: also crop the template frame around each given object's mask
            (same ``bbox_scale`` and ``min_box``), so that the object has about the same
            size in the template as in the cropped target; off: the whole template frame.
        min_box: smallest crop side as a fraction of the frame side.
        discriminant, nms: RAM switches; ``None`` keeps the checkpoint's setting.
        threads: torch threads (0: leave as is).
    """

    input_size: tuple[int, ...] = (0, 0)
    prev_mask: bool = True
    prev_threshold: float = 0.0
    bbox_crop: bool = True
    bbox_scale: float = 1.5
    template_crop: bool = False
    min_box: float = 0.25
    discriminant: bool | None = None
    nms: bool | None = None
    threads: int = 0


def crop_box(mask: np.ndarray, scale: float, aspect: float, min_frac: float = 0.0
             ) -> tuple[int, int, int, int] | None:
    """Enlarged box around a binary mask, as ``(y0, x0, y1, x1)`` (exclusive ends).

    The tight box is scaled by ``scale`` about its centre, widened so that
    ``height / width == aspect`` (the larger side wins), at least ``min_frac`` of the
    frame in each side, then clipped to the frame.  ``None`` for an empty mask.

    Args:
        mask: ``(H, W)`` bool.
        scale: enlargement (1.5 in RANet).
        aspect: network input height / width.
        min_frac: minimum side as a fraction of the frame side.
    """
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    if ys.size == 0:
        return None
    h, w = mask.shape
    cy, cx = (ys[0] + ys[-1] + 1) / 2.0, (xs[0] + xs[-1] + 1) / 2.0
    bh = max((ys[-1] - ys[0] + 1) * scale, min_frac * h)
    bw = max((xs[-1] - xs[0] + 1) * scale, min_frac * w)
    bh = max(bh, aspect * bw)
    bw = bh / aspect
    y0, y1 = int(np.floor(cy - bh / 2)), int(np.ceil(cy + bh / 2))
    x0, x1 = int(np.floor(cx - bw / 2)), int(np.ceil(cx + bw / 2))
    return max(0, y0), max(0, x0), min(h, y1), min(w, x1)


class RanetTracker(Tracker):
    """RANet tracker (thesis chapter 3).

    Args:
        config: tracker settings.
        checkpoint: gazevos RANet checkpoint or the release's ``.pth`` (default: shipped).
    """

    name = "ranet"
    config_cls = RanetTrackerConfig

    @classmethod
    def from_options(cls, checkpoint: str | Path | None = None, config: str | Path | None = None,
                     **overrides: Any) -> RanetTracker:
        return cls(load_config(RanetTrackerConfig, config, overrides), checkpoint)

    def __init__(self, config: RanetTrackerConfig | None = None,
                 checkpoint: str | Path | None = None, model: RANet | None = None) -> None:
        super().__init__()
        self.config = cfg = config or RanetTrackerConfig()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        changes = {k: v for k, v in (("discriminant", cfg.discriminant), ("nms", cfg.nms))
                   if v is not None}
        if model is None:
            model, size = load_with_input_size(checkpoint or default_checkpoint(), **changes)
        else:
            size = (480, 864)
        self.model = model.eval()
        if tuple(cfg.input_size) != (0, 0):
            size = tuple(cfg.input_size)
        if len(size) != 2 or size[0] % 32 or size[1] % 32 or min(size) <= 0:
            raise GazevosError(f"input_size must be two positive multiples of 32, got {size}")
        self.size = (int(size[0]), int(size[1]))
        self._reset_state()

    def _reset_state(self) -> None:
        self._templates: dict[int, tuple[torch.Tensor, torch.Tensor, np.ndarray]] = {}
        self._prev: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        super().reset()
        self._reset_state()

    def _to_input(self, image: np.ndarray) -> torch.Tensor:
        h, w = self.size
        img = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        return normalise_image(torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0))

    def _box(self) -> tuple[int, int, int, int]:
        assert self._size is not None
        fh, fw = self._size
        full = (0, 0, fh, fw)
        if not self.config.bbox_crop or not self._prev:
            return full
        union = np.zeros((fh, fw), dtype=bool)
        for p in self._prev.values():
            union |= p > 0.5
        box = crop_box(union, self.config.bbox_scale, self.size[0] / self.size[1],
                       self.config.min_box)
        return full if box is None else box

    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        y0, x0, y1, x1 = self._box()
        ids = list(self.object_ids)
        h, w = self.size
        priors = []
        for i in ids:
            src = self._prev[i] if self.config.prev_mask else self._templates[i][2]
            if self.config.prev_mask and self.config.prev_threshold > 0:
                src = (src > self.config.prev_threshold).astype(np.float32)
            priors.append(cv2.resize(np.ascontiguousarray(src[y0:y1, x0:x1]), (w, h),
                                     interpolation=cv2.INTER_LINEAR))
        with torch.inference_mode():
            feats, emb = self.model.embed(self._to_input(frame[y0:y1, x0:x1]))
            k = len(ids)
            kernel = torch.cat([self._templates[i][0] for i in ids])
            m = torch.cat([self._templates[i][1] for i in ids])
            feats = [f.expand(k, -1, -1, -1) for f in feats]
            prev = torch.from_numpy(np.stack(priors)).unsqueeze(1)
            logits = self.model.segment(feats, emb.expand(k, -1, -1, -1), kernel, m, prev)
            probs = torch.sigmoid(logits)[:, 0].numpy()
        out: dict[int, np.ndarray] = {}
        fh, fw = frame.shape[:2]
        for n, i in enumerate(ids):
            full = np.zeros((fh, fw), dtype=np.float32)
            full[y0:y1, x0:x1] = cv2.resize(probs[n], (x1 - x0, y1 - y0),
                                            interpolation=cv2.INTER_LINEAR)
            out[i] = full
        return out

    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        if given:
            cfg = self.config
            h, w = self.size
            fh, fw = frame.shape[:2]
            crop = cfg.template_crop and cfg.bbox_crop
            with torch.inference_mode():
                emb = None if crop else self.model.embed(self._to_input(frame))[1]
                for i in given:
                    mask = (pred.labels == i).astype(np.float32)
                    y0, x0, y1, x1 = 0, 0, fh, fw
                    if crop:
                        box = crop_box(mask > 0, cfg.bbox_scale, h / w, cfg.min_box)
                        y0, x0, y1, x1 = box if box is not None else (0, 0, fh, fw)
                        emb = self.model.embed(self._to_input(frame[y0:y1, x0:x1]))[1]
                    small = cv2.resize(np.ascontiguousarray(mask[y0:y1, x0:x1]), (w, h),
                                       interpolation=cv2.INTER_LINEAR)
                    assert emb is not None
                    kernel, m = self.model.template(
                        emb, torch.from_numpy(small).view(1, 1, h, w))
                    self._templates[i] = (kernel, m, mask)
        for k, i in enumerate(pred.object_ids, start=1):
            self._prev[i] = pred.probs[k].astype(np.float32, copy=False)
