"""The ``ranet`` tracker: RANet (thesis chapter 3) behind the :class:`Tracker` API.

Per object, the template is the latest frame where the object was given (first-frame
masks and objects added later alike): its embedding pooled to the template grid and its
mask.  Every new frame is encoded once and decoded once per object (batched), with

* M(t-1): the object's previous probability map as the decoder's mask input (switch
  ``prev_mask``; off: the template mask is fed instead, thesis Table 3.1);
* bounding-box crop (``bbox_crop``): the tight box of all objects' previous masks,
  enlarged ``bbox_scale`` times about its centre and widened to the network's aspect
  ratio, is cropped and resized to ``input_size``; outside it objects get 0;
* flow-warped M(t-1) (``prev_flow``, off by default): the previous probability maps are
  warped into the current frame with DIS optical flow (the ``flow`` tracker's) before
  they pick the crop and enter the decoder;
* per-video online adaptation (``online_steps``, 50 by default; 0: off): when objects are
  given, a copy of the model is fine-tuned on pairs made from that frame alone (the
  template is the given frame and mask, the target a random affine warp of them, M(t-1)
  the warped mask shifted and eroded or dilated), framed as the tracker frames them; the
  copy serves the rest of the video and is dropped by :meth:`reset`.

Per-object sigmoid outputs are merged by the base class (softmax over objects and
background, :func:`gazevos.track.base.aggregate`).

``device``: network, templates and online adaptation on a GPU (float16 autocast, and a
gradient scaler when adapting, unless ``amp`` is False); results come back on the CPU.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from gazevos.config import load_config, setting
from gazevos.devices import amp_enabled, autocast, grad_scaler, resolve_device, restore_device
from gazevos.errors import GazevosError
from gazevos.models.ranet.augment import morph_mask, object_affine
from gazevos.models.ranet.checkpoint import default_checkpoint, load_with_input_size
from gazevos.models.ranet.model import RANet, normalise_image
from gazevos.track.base import Prediction, Tracker
from gazevos.track.baselines import (
    FlowConfig,
    backward_flow,
    flow_gray,
    make_dis,
    pixel_grid,
    sampling_map,
    warp_with_map,
)
from gazevos.track.regions import crop_box, keep_near_components

__all__ = ["RanetTracker", "RanetTrackerConfig", "crop_box", "keep_near_components"]


@dataclass(frozen=True)
class RanetTrackerConfig:
    """Settings of the ``ranet`` tracker.

    Attributes:
        input_size: ``(H, W)`` network input, sides divisible by 32; ``(0, 0)``: the
            checkpoint's training size (224x384 for the shipped model, 480x864 for the
            released weights: preset ``ranet_release``).  The default 352x608 runs the
            shipped model at 1.6x its training size: held-out dev J&F on fold 1 (the
            shipped model) 0.600 at 224x384, 0.616 at 288x512, 0.641 at 352x608; fold 2
            flat from 288x512 on (0.624, 0.621; all with seed 0, which varies by up to 0.06);
            6.5 frames/s for one object on 2 cores
            (docs/experiments/ranet.md, session 4).  The U^2-Netp model shipped since session 7
            runs at 5.2-6.3 frames/s there; 288x512 cost it 0.05 on fold 1 (session 7).
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
        prev_flow: warp M(t-1) into the current frame with DIS optical flow (the ``flow``
            tracker's default settings, flow computed at ``flow_scale``) before it
            chooses the crop and enters the decoder.
        flow_scale: frame scale of the optical flow.
        online_steps: per-video online adaptation: Adam steps of fine-tuning a copy of
            the model on the frame where objects are given (0: off).  The default (50
            steps of 2 pairs at ``online_lr`` 3e-4, chosen on fold 1) raised held-out dev
            J&F from 0.370 to 0.573 (fold 1) and from 0.220 to 0.459 (fold 2) for about
            30-50 s per given object on one loaded CPU thread (docs/experiments/ranet.md,
            session 3).
        online_lr: its learning rate.
        online_encoder_lr_scale: the encoder (``base_model``) adapts at ``online_lr``
            times this; 0 freezes it (the backward pass then stops at its output, which
            also shortens the adaptation).  Freezing lowered fold 2's held-out J&F from
            0.599 to 0.454 (session 6 model, seed 1; docs/experiments/ranet.md, session 7):
            the per-video gain needs the encoder to adapt.
        online_batch: pairs per step (objects drawn in turn when several are given).
        online_scale, online_rotate, online_shift: the target's random affine about the
            object: zoom up to ``1 + online_scale`` (or its inverse), rotation up to
            ``online_rotate`` degrees, shift up to ``online_shift`` x the object's box.
        online_flip: also flip the target horizontally half of the time.
        online_prev_shift: M(t-1) is the mask under a second affine, shifted a further
            up to this fraction of the box (zoom and rotation up to a quarter of it /
            5 degrees) ...
        online_prev_morph: ... and eroded or dilated by up to this fraction of the
            object's size (as training's ``prev_morph``).
        online_loss: ``iou`` (soft IoU, the training default), ``log_iou`` or ``bce``.
        online_every: > 0: every this many frames, also fine-tune the current copy for
            ``online_update_steps`` steps on pairs made from the current frame and the
            tracker's own (argmax) masks of it, the templates staying the given frames
            (online updates in the manner of OnAVOS; every 10 frames x 10 steps gave no
            held-out gain, BENCHMARKS.md); 0: adapt on given frames only.
        online_update_steps: steps of each such update.
        online_confident: > 0: the updates learn only confident pixels of the tracker's
            own masks (OnAVOS): object where its probability reaches this, background
            farther than ``online_far`` x sqrt(object area) from its mask, the rest
            ignored; and every other pair of an update comes from the given frame, so
            the copy stays anchored to the true mask.  0: whole argmax masks, current
            frame only.
        online_far: that background distance.
        near_radius: > 0: drop the connected components of each object's new mask that
            lie mostly farther than ``near_radius`` x sqrt(area of its previous mask)
            from that previous mask (the distant false positives that otherwise enlarge
            the bbox crop and feed back through M(t-1)); 0: off.  The default 0.25 raised
            held-out dev J&F from 0.573 to 0.600 (fold 1) and 0.459 to 0.567 (fold 2)
            at 224x384 (docs/experiments/ranet.md, session 4).
        near_keep: a component survives when at least this share of its pixels lies
            within that distance.
        near_clip: > 0 (with ``near_radius``): also zero every pixel farther than
            ``near_clip`` x sqrt(previous area) from the previous mask.
        flip_test: also segment the mirrored crop and average the two probabilities
            (test-time augmentation; twice the per-frame cost).
        online_average: > 0: the adapted weights are the average of those after each of
            the last this many adaptation steps (stochastic weight averaging), which
            damps the step-to-step noise of the small-batch adaptation; 0: the last
            step's weights.  25 gave held-out dev J&F 0.614 over three seeds vs 0.617
            for 0 (docs/experiments/ranet.md, session 5).
        online_soup: adapt this many copies, each from the same model with its own
            random pairs, and average their weights (a "model soup": damps the seed
            dependence of one adaptation, at this many times its cost); 1: one copy.
            2 gave held-out dev J&F 0.619 over two seeds vs 0.617 for 1 (session 5).
        memory_every: > 0: every this many frames, the tracker's own (argmax) mask of the
            frame, with that frame's features, becomes a second template of each object
            beside its given frame (stacked below it in the RAM, so the ranking picks
            maps from either; a short-term memory for objects whose appearance drifts
            from the given frame); 0: the given frames only.  1 and 5 lowered fold 1's
            held-out J&F from 0.641 to 0.622 / 0.617 (own-mask errors enter the
            template; session 5).
        online_seed: seed of the random pairs (each adaptation reseeds, so a video's
            result does not depend on the videos before it).
        threads: torch threads (0: leave as is).
    """

    input_size: tuple[int, ...] = setting((352, 608), ge=0, le=4096)
    prev_mask: bool = True
    prev_threshold: float = setting(0.0, ge=0.0, le=1.0)
    bbox_crop: bool = True
    bbox_scale: float = setting(1.5, gt=0.0, le=10.0)
    template_crop: bool = False
    min_box: float = setting(0.25, ge=0.0, le=1.0)
    discriminant: bool | None = None
    nms: bool | None = None
    prev_flow: bool = False
    flow_scale: float = setting(0.5, gt=0.0, le=1.0)
    online_steps: int = setting(50, ge=0, le=100_000)
    online_lr: float = setting(3e-4, ge=0.0, le=10.0)
    online_encoder_lr_scale: float = setting(1.0, ge=0.0, le=10.0)
    online_batch: int = setting(2, ge=1, le=64)
    online_scale: float = setting(0.15, ge=0.0, le=1.0)
    online_rotate: float = setting(10.0, ge=0.0, le=180.0)
    online_shift: float = setting(0.1, ge=0.0, le=2.0)
    online_flip: bool = False
    online_prev_shift: float = setting(0.1, ge=0.0, le=2.0)
    online_prev_morph: float = setting(0.1, ge=0.0, le=1.0)
    online_loss: str = setting("iou", choices=("iou", "log_iou", "bce"))
    near_radius: float = setting(0.25, ge=0.0)
    near_keep: float = setting(0.5, ge=0.0, le=1.0)
    near_clip: float = setting(0.0, ge=0.0)
    flip_test: bool = False
    online_average: int = setting(0, ge=0, le=100_000)
    online_soup: int = setting(1, ge=1, le=100)
    memory_every: int = setting(0, ge=0)
    online_seed: int = setting(0, ge=0)
    online_every: int = setting(0, ge=0)
    online_update_steps: int = setting(10, ge=0, le=100_000)
    online_confident: float = setting(0.0, ge=0.0, le=1.0)
    online_far: float = setting(0.25, ge=0.0)
    threads: int = setting(0, ge=0, le=1024)


class RanetTracker(Tracker):
    """RANet tracker (thesis chapter 3).

    Args:
        config: tracker settings.
        checkpoint: gazevos RANet checkpoint or the release's ``.pth`` (default: shipped).
        model: a ready model instead of ``checkpoint``.
        device: where the network, its templates and the online adaptation run (``auto``,
            ``cpu``, ``cuda[:N]``; None: the CPU); see :func:`gazevos.devices.resolve_device`.
        amp: float16 autocast (and a gradient scaler when adapting) on CUDA (None: on
            there; ignored on the CPU).
    """

    name = "ranet"
    config_cls = RanetTrackerConfig

    @classmethod
    def from_options(cls, checkpoint: str | Path | None = None, config: str | Path | None = None,
                     device: str | torch.device | None = None, amp: bool | None = None,
                     **overrides: Any) -> RanetTracker:
        return cls(load_config(RanetTrackerConfig, config, overrides), checkpoint,
                   device=device, amp=amp)

    def __init__(self, config: RanetTrackerConfig | None = None,
                 checkpoint: str | Path | None = None, model: RANet | None = None,
                 device: str | torch.device | None = None, amp: bool | None = None) -> None:
        super().__init__()
        self.config = cfg = config or RanetTrackerConfig()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = resolve_device(device)
        self.amp = amp_enabled(self.device, amp)
        changes = {k: v for k, v in (("discriminant", cfg.discriminant), ("nms", cfg.nms))
                   if v is not None}
        if model is None:
            model, size = load_with_input_size(checkpoint or default_checkpoint(), **changes)
        else:
            size = (480, 864)
        self.model = self.base_model = model.to(self.device).eval()
        if cfg.online_steps < 0 or cfg.online_batch < 1:
            raise GazevosError("online_steps must be >= 0 and online_batch >= 1")
        if cfg.online_loss not in ("iou", "log_iou", "bce"):
            raise GazevosError(f"unknown online_loss '{cfg.online_loss}' "
                               "(choose from iou, log_iou, bce)")
        self._flow = FlowConfig(flow_scale=cfg.flow_scale)
        self._dis = make_dis(self._flow) if cfg.prev_flow else None
        self._grid: np.ndarray | None = None
        #: seconds, objects and (first, last) loss of each online adaptation
        self.adaptations: list[dict[str, float]] = []
        if tuple(cfg.input_size) != (0, 0):
            size = tuple(cfg.input_size)
        if len(size) != 2 or size[0] % 32 or size[1] % 32 or min(size) <= 0:
            raise GazevosError(f"input_size must be two positive multiples of 32, got {size}")
        self.size = (int(size[0]), int(size[1]))
        self._reset_state()

    def _reset_state(self) -> None:
        self._templates: dict[int, tuple[torch.Tensor, torch.Tensor, np.ndarray]] = {}
        #: per object: the template's network input and its mask at input size
        self._template_inputs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._prev: dict[int, np.ndarray] = {}
        self._prev_gray: np.ndarray | None = None
        #: per object: the frame where it was last given and its mask there (kept only
        #: when ``online_confident`` > 0, for the anchored updates)
        self._given: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        #: per object: the memory template ``(kernel, m)`` of a recent frame
        self._memory: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        #: the last propagated frame's crop box and embedding
        self._last: tuple[tuple[int, int, int, int], torch.Tensor] | None = None
        self.model = self.base_model

    def reset(self) -> None:
        super().reset()
        self._reset_state()

    def _rebuild_transient(self) -> None:
        restore_device(self)  # a state saved on a GPU goes on there, or on the CPU

    def _to_input(self, image: np.ndarray) -> torch.Tensor:
        """``(1, 3, H, W)`` normalised network input on the tracker's device."""
        h, w = self.size
        img = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        return normalise_image(torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0)).to(
            self.device)

    def _mask_input(self, small: np.ndarray) -> torch.Tensor:
        """``(1, 1, H, W)`` float32 mask at the input size on the tracker's device."""
        return torch.from_numpy(small).view(1, 1, *self.size).to(self.device)

    def _box(self, prev: dict[int, np.ndarray] | None = None) -> tuple[int, int, int, int]:
        assert self._size is not None
        prev = self._prev if prev is None else prev
        fh, fw = self._size
        full = (0, 0, fh, fw)
        if not self.config.bbox_crop or not prev:
            return full
        union = np.zeros((fh, fw), dtype=bool)
        for p in prev.values():
            union |= p > 0.5
        box = crop_box(union, self.config.bbox_scale, self.size[0] / self.size[1],
                       self.config.min_box)
        return full if box is None else box

    def _warped_prev(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        """The previous maps, warped into ``frame`` with optical flow if ``prev_flow``."""
        if self._dis is None or self._prev_gray is None:
            return self._prev
        gray = flow_gray(frame, self._flow.flow_scale)
        h, w = frame.shape[:2]
        flow = backward_flow(self._dis, self._prev_gray, gray, (h, w))
        if self._grid is None or self._grid.shape[:2] != (h, w):
            self._grid = pixel_grid(h, w)
        coords = sampling_map(flow, self._grid)
        return {i: warp_with_map(p, coords) for i, p in self._prev.items()}

    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        cfg = self.config
        warped = self._warped_prev(frame)
        y0, x0, y1, x1 = self._box(warped)
        ids = list(self.object_ids)
        h, w = self.size
        priors = []
        for i in ids:
            src = warped[i] if cfg.prev_mask else self._templates[i][2]
            if cfg.prev_mask and cfg.prev_threshold > 0:
                src = (src > cfg.prev_threshold).astype(np.float32)
            priors.append(cv2.resize(np.ascontiguousarray(src[y0:y1, x0:x1]), (w, h),
                                     interpolation=cv2.INTER_LINEAR))
        with torch.inference_mode(), autocast(self.device, self.amp):
            image = self._to_input(frame[y0:y1, x0:x1])
            prev = torch.from_numpy(np.stack(priors)).unsqueeze(1).to(self.device)
            probs, emb = self._segment(image, ids, prev)
            self._last = ((y0, x0, y1, x1), emb)
            if cfg.flip_test:
                flipped, _ = self._segment(image.flip(-1), ids, prev.flip(-1))
                probs = 0.5 * (probs + flipped[:, :, ::-1])
        out: dict[int, np.ndarray] = {}
        fh, fw = frame.shape[:2]
        for n, i in enumerate(ids):
            full = np.zeros((fh, fw), dtype=np.float32)
            full[y0:y1, x0:x1] = cv2.resize(probs[n], (x1 - x0, y1 - y0),
                                            interpolation=cv2.INTER_LINEAR)
            if cfg.near_radius > 0 and i in warped:
                full = keep_near_components(full, warped[i], cfg.near_radius, cfg.near_keep,
                                            cfg.near_clip)
            out[i] = full
        return out

    def _segment(self, image: torch.Tensor, ids: list[int], prev: torch.Tensor
                 ) -> tuple[np.ndarray, torch.Tensor]:
        """``(K, H, W)`` probabilities of objects ``ids`` in the network input ``image``
        ``(1, 3, H, W)`` given their M(t-1) ``prev (K, 1, H, W)``, and the image's
        ``(1, D, h, w)`` embedding."""
        feats, emb = self.model.embed(image)
        k = len(ids)
        kernel = torch.cat([self._templates[i][0] for i in ids])
        m = torch.cat([self._templates[i][1] for i in ids])
        if self._memory:  # stack each object's memory template below its given one
            # (an object without one yet repeats its given template)
            mem = [self._memory.get(i, self._templates[i][:2]) for i in ids]
            kernel = torch.cat([kernel, torch.cat([t[0] for t in mem])], 2)
            m = torch.cat([m, torch.cat([t[1] for t in mem])], 2)
        feats = [f.expand(k, -1, -1, -1) for f in feats]
        logits = self.model.segment(feats, emb.expand(k, -1, -1, -1), kernel, m, prev)
        return torch.sigmoid(logits.float())[:, 0].cpu().numpy(), emb

    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        if given:
            cfg = self.config
            h, w = self.size
            fh, fw = frame.shape[:2]
            crop = cfg.template_crop and cfg.bbox_crop
            full = None if crop else self._to_input(frame)
            masks = {}
            # kept for the anchored updates only (the caller may reuse its frame buffer)
            kept = frame.copy() if cfg.online_confident > 0 else None
            for i in sorted(given):
                mask = (pred.labels == i).astype(np.float32)
                y0, x0, y1, x1 = 0, 0, fh, fw
                if crop:
                    box = crop_box(mask > 0, cfg.bbox_scale, h / w, cfg.min_box)
                    y0, x0, y1, x1 = box if box is not None else (0, 0, fh, fw)
                image = self._to_input(frame[y0:y1, x0:x1]) if full is None else full
                small = cv2.resize(np.ascontiguousarray(mask[y0:y1, x0:x1]), (w, h),
                                   interpolation=cv2.INTER_LINEAR)
                self._template_inputs[i] = (image, self._mask_input(small))
                masks[i] = mask
                if kept is not None:
                    self._given[i] = (kept, mask)
            if cfg.online_steps > 0:
                self._adapt([(i, frame, masks[i], None) for i in sorted(masks)],
                            cfg.online_steps)
                todo = set(self._templates) | set(given)  # every kernel from the new model
            else:
                todo = set(given)
            self._embed_templates(todo, masks)
            self._memory.clear()  # from the old model, or of an outdated mask
        elif self._update_due():
            sources = self._update_sources(frame, pred)
            if sources:
                self._adapt(sources, self.config.online_update_steps)
                self._embed_templates(set(self._templates), {})
                self._memory.clear()
        elif (self.config.memory_every > 0 and self._last is not None
              and self.frame_index % self.config.memory_every == 0):
            self._remember(pred)
        for k, i in enumerate(pred.object_ids, start=1):
            self._prev[i] = pred.probs[k].astype(np.float32, copy=False)
        if self._dis is not None:
            self._prev_gray = flow_gray(frame, self._flow.flow_scale)

    def _remember(self, pred: Prediction) -> None:
        """Make each object's memory template from ``pred`` (the frame just propagated)
        and the embedding of that frame's crop."""
        assert self._last is not None
        (y0, x0, y1, x1), emb = self._last
        h, w = self.size
        with torch.inference_mode(), autocast(self.device, self.amp):
            for i in pred.object_ids:
                own = (pred.labels[y0:y1, x0:x1] == i).astype(np.float32)
                if not own.any():
                    self._memory.pop(i, None)  # nothing to remember; keep no stale one
                    continue
                small = cv2.resize(own, (w, h), interpolation=cv2.INTER_LINEAR)
                self._memory[i] = self.model.template(emb, self._mask_input(small))

    def _embed_templates(self, ids: set[int], masks: dict[int, np.ndarray]) -> None:
        """(Re-)embed the templates of ``ids`` from their stored inputs with the current
        model; ``masks`` gives new full-size masks, the others keep theirs."""
        embs: dict[int, torch.Tensor] = {}  # one embedding per distinct input
        with torch.inference_mode(), autocast(self.device, self.amp):
            for i in sorted(ids):
                image, small = self._template_inputs[i]
                if id(image) not in embs:
                    embs[id(image)] = self.model.embed(image)[1]
                kernel, m = self.model.template(embs[id(image)], small)
                mask = masks[i] if i in masks else self._templates[i][2]
                self._templates[i] = (kernel, m, mask)

    # -- online adaptation --------------------------------------------------------------
    def _update_sources(self, frame: np.ndarray, pred: Prediction
                        ) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
        """The ``(object id, frame, mask, valid)`` sources of an online update from the
        tracker's own prediction of ``frame`` (see ``online_confident``)."""
        cfg = self.config
        out: list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]] = []
        for k, i in enumerate(pred.object_ids, start=1):
            own = pred.labels == i
            if not own.any():
                continue
            if cfg.online_confident <= 0:
                out.append((i, frame, own.astype(np.float32), None))
                continue
            fg = own & (pred.probs[k] >= cfg.online_confident)
            if not fg.any():
                continue
            dist = cv2.distanceTransform((~own).astype(np.uint8), cv2.DIST_L2, 3)
            valid = fg | (dist > cfg.online_far * np.sqrt(own.sum()))
            if i in self._given:
                out.append((i, *self._given[i], None))
            out.append((i, frame, fg.astype(np.float32), valid.astype(np.float32)))
        return out

    def _online_pair(self, frame: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                     valid: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """One target view of the given ``frame`` / ``mask`` as the tracker would see
        it: ``(image (H, W, 3) uint8, target mask, M(t-1), valid)`` at the input size
        (``valid``: the warped ``(H, W)`` map of labelled pixels, ``None`` if not given).

        The frame and mask are warped by a random affine about the object (exact
        correspondences), M(t-1) is the mask under a nearby affine, eroded or dilated,
        and the bbox crop (when on) is taken around that M(t-1), as in :meth:`_propagate`.
        """
        cfg = self.config
        fh, fw = frame.shape[:2]
        h, w = self.size
        obj = mask > 0.5
        a = object_affine(rng, obj, cfg.online_scale, cfg.online_rotate, cfg.online_shift)
        d = object_affine(rng, obj, cfg.online_prev_shift / 4, 5.0, cfg.online_prev_shift)
        p = (np.vstack([d, [0, 0, 1]]) @ np.vstack([a, [0, 0, 1]]))[:2]
        border = cv2.BORDER_REFLECT_101
        img = cv2.warpAffine(frame, a, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=border)
        tgt = cv2.warpAffine(mask, a, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=border)
        prev = cv2.warpAffine(mask, p, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=border)
        arrays = [img, tgt, prev]
        if valid is not None:
            arrays.append(cv2.warpAffine(valid, a, (fw, fh), flags=cv2.INTER_LINEAR,
                                         borderMode=border))
        prev = arrays[2] = morph_mask((prev > 0.5).astype(np.float32), rng, cfg.online_prev_morph)
        y0, x0, y1, x1 = 0, 0, fh, fw
        if cfg.bbox_crop:
            box = crop_box(prev > 0.5, cfg.bbox_scale, h / w, cfg.min_box)
            if box is not None:
                y0, x0, y1, x1 = box
        out = [cv2.resize(np.ascontiguousarray(arr[y0:y1, x0:x1]), (w, h),
                          interpolation=cv2.INTER_LINEAR) for arr in arrays]
        out[1] = (out[1] > 0.5).astype(np.float32)
        out[2] = out[2].astype(np.float32)
        if valid is not None:
            out[3] = (out[3] > 0.5).astype(np.float32)
        if cfg.online_flip and rng.random() < 0.5:
            out = [np.ascontiguousarray(v[:, ::-1]) for v in out]
        img, tgt, prev = out[:3]
        return img, tgt, prev, (out[3] if valid is not None else None)

    def _update_due(self) -> bool:
        """Whether an online update on the tracker's own masks is due at this frame."""
        every = self.config.online_every
        if every <= 0 or self.config.online_update_steps <= 0 or not self._templates:
            return False
        last = max((a["frame"] for a in self.adaptations), default=self.frame_index)
        return self.frame_index - last >= every

    def _adapt(self, sources: list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]],
               steps: int) -> None:
        """Fine-tune copies of the model for ``steps`` on pairs made from ``sources``,
        ``(object id, frame, (H, W) float32 mask, (H, W) valid map or None)`` taken in
        turn, the templates being those of the given frames; the copy (the mean of the
        ``online_soup`` copies' weights) replaces ``self.model``."""
        cfg = self.config
        t0 = time.perf_counter()
        soup: list[torch.Tensor] = []  # running mean of the copies' weights
        losses: list[float] = []  # the first copy's
        for r in range(max(1, cfg.online_soup)):
            rng = np.random.default_rng(cfg.online_seed + 1000 * r + self.frame_index)
            model, run_losses = self._fine_tune(sources, steps, rng)
            losses = losses or run_losses
            if cfg.online_soup > 1:
                _mean_into(soup, model, r + 1)
        if soup:
            _load_params(model, soup)
        self.model = model.eval()
        self.adaptations.append({"seconds": time.perf_counter() - t0,
                                 "objects": len({src[0] for src in sources}),
                                 "frame": self.frame_index,
                                 "steps": steps, "loss_first": losses[0],
                                 "loss_last": losses[-1]})

    def _fine_tune(self, sources: list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]],
                   steps: int, rng: np.random.Generator) -> tuple[RANet, list[float]]:
        """One fine-tuned copy of ``self.model`` (see :meth:`_adapt`) and its losses."""
        from gazevos.losses.ranet import segmentation_loss  # only when adapting

        cfg = self.config
        model = copy.deepcopy(self.model)
        model.train()
        opt = torch.optim.Adam(model.param_groups(cfg.online_lr, cfg.online_encoder_lr_scale))
        scaler = grad_scaler(self.device, self.amp)  # a pass-through on the CPU
        dev = self.device
        losses = []
        avg: list[torch.Tensor] = []  # running mean of the weights (online_average)
        for step in range(steps):
            picked = [sources[(step * cfg.online_batch + b) % len(sources)]
                      for b in range(cfg.online_batch)]
            objs = [src[0] for src in picked]
            pairs = [self._online_pair(f, mk, rng, v) for _, f, mk, v in picked]
            imgs = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2)
            tgt = torch.from_numpy(np.stack([p[1] for p in pairs])).unsqueeze(1).to(dev)
            prev = torch.from_numpy(np.stack([p[2] for p in pairs])).unsqueeze(1).to(dev)
            uniq = sorted(set(objs))
            valid = None
            if any(p[3] is not None for p in pairs):
                valid = torch.from_numpy(np.stack([np.ones_like(p[1]) if p[3] is None
                                                   else p[3] for p in pairs])).unsqueeze(1)
                valid = valid.to(dev)
            with autocast(dev, self.amp):
                temb = model.embed(torch.cat([self._template_inputs[i][0] for i in uniq]))[1]
                kernel, m = model.template(temb, torch.cat([self._template_inputs[i][1]
                                                            for i in uniq]))
                pick = torch.tensor([uniq.index(i) for i in objs], device=dev)
                feats, emb = model.embed(normalise_image(imgs).to(dev))
                logits = model.segment(feats, emb, kernel[pick], m[pick], prev)
                loss = segmentation_loss(cfg.online_loss, logits.float(), tgt, valid)
            if not torch.isfinite(loss):
                raise GazevosError(f"online adaptation loss became {loss.item()} at step "
                                   f"{step}; lower online_lr")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)  # opt.step() unless AMP skips a step with inf/NaN gradients
            scaler.update()
            losses.append(float(loss.item()))
            if cfg.online_average > 0 and step >= steps - cfg.online_average:
                _mean_into(avg, model, step - (steps - cfg.online_average) + 1)
        if avg:
            _load_params(model, avg)
        return model, losses


def _mean_into(mean: list[torch.Tensor], model: torch.nn.Module, n: int) -> None:
    """Fold ``model``'s parameters into the running ``mean`` as its ``n``-th member
    (``n`` = 1 starts it; an empty list is filled)."""
    with torch.no_grad():
        if n == 1 or not mean:
            mean[:] = [p.detach().clone() for p in model.parameters()]
            return
        for a, p in zip(mean, model.parameters(), strict=True):
            a += (p.detach() - a) / n


def _load_params(model: torch.nn.Module, params: list[torch.Tensor]) -> None:
    """Copy ``params`` (in ``model.parameters()`` order) into ``model``."""
    with torch.no_grad():
        for a, p in zip(params, model.parameters(), strict=True):
            p.copy_(a)
