"""Supervised segmentation training with optional DANN domain adaptation (thesis ch. 2).

Each step takes a batch of labelled source images and, when target frames are given, a
batch of unlabelled target frames; both go through HRNet in one forward pass (shared
batch-norm statistics), the source logits give the cross-entropy ``L_cls``, and the
features of both go through a gradient reversal layer into the domain discriminator,
giving ``L_D``.  The optimised loss is ``L = L_cls + lambda * L_D`` (eq. 2.2).  With no
target frames this is plain supervised training ("source only").

Checkpoints (``last.pt``: model + discriminator + optimiser + step + random state;
``model.pt``: the segmentation model only, a gazevos-semseg checkpoint) are written
atomically into the run's staging folder every ``save_every`` steps and on Ctrl-C /
SIGTERM, so a stopped run resumes with ``--resume`` (:mod:`gazevos.train.staging`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gazevos.config import config_to_dict, setting
from gazevos.devices import autocast, grad_scaler, module_device
from gazevos.errors import GazevosError
from gazevos.losses.semseg import dann_loss, domain_loss, segmentation_loss
from gazevos.models.checkpoint import weights_of
from gazevos.models.semseg.checkpoint import (
    load_state_strict,
    model_from_checkpoint,
    model_to_checkpoint,
    read_checkpoint,
)
from gazevos.models.semseg.classes import FGBG_CLASSES, IGNORE_INDEX, palette_for
from gazevos.models.semseg.dann import DomainDiscriminator, grad_reverse
from gazevos.models.semseg.hrnet import ARCHITECTURES, HRNet
from gazevos.models.semseg.infer import normalize
from gazevos.train import checkpointing, staging
from gazevos.train.checkpointing import backward, save_atomic, step_optimizer
from gazevos.train.semseg_data import LabelledSet
from gazevos.train.staging import LAST


@dataclass(frozen=True)
class SemsegTrainConfig:
    """Every hyper-parameter of segmentation training (preset: ``configs/semseg.yaml``).

    Attributes:
        arch: architecture name in :data:`~gazevos.models.semseg.hrnet.ARCHITECTURES`
            (``small``, ``w18-small-v1``, ``w18-small-v2``, ``w48``); its classifier gets
            ``len(classes)`` outputs.
        classes: class names (label ids are their positions).
        binary_masks: any object id > 0 in a label map is class 1 (DAVIS fg/bg).
        size: ``[H, W]`` working size every image is resized to.
        crop: ``[h, w]`` random training crop (``[0, 0]``: whole image).
        flip: random horizontal flips.
        class_weights: cross-entropy weight per class (empty: all 1).
        batch_size: labelled source images per step.
        target_batch_size: unlabelled target frames per step (DANN).
        dann_lambda: lambda of ``L = L_cls + lambda * L_D``.
        grl_scale: the gradient reversal multiplies gradients by ``-grl_scale``.
        disc_width: channels of the discriminator (pooled vector size).
        learning_rate: Adam learning rate (model and discriminator).
        weight_decay: Adam weight decay.
        steps: total optimisation steps.
        save_every: checkpoint period (steps).
        max_target_frames: frames kept per target video.
        seed: random seed (weights, batches, crops).
    """

    arch: str = "small"
    classes: tuple[str, ...] = FGBG_CLASSES
    binary_masks: bool = True
    size: tuple[int, int] = setting((120, 214), ge=16, le=8192)
    crop: tuple[int, int] = setting((96, 96), ge=0, le=8192)
    flip: bool = True
    class_weights: tuple[float, ...] = setting((), ge=0.0)
    batch_size: int = setting(4, ge=1, le=4096)
    target_batch_size: int = setting(4, ge=1, le=4096)
    dann_lambda: float = setting(0.01, ge=0.0)
    grl_scale: float = setting(1.0, ge=0.0)
    disc_width: int = setting(64, ge=1, le=4096)
    learning_rate: float = setting(1e-3, ge=0.0, le=10.0)
    weight_decay: float = setting(0.0, ge=0.0)
    steps: int = setting(300, ge=1)
    save_every: int = setting(50, ge=1)
    max_target_frames: int = setting(2000, ge=1)
    seed: int = setting(0, ge=0, le=2**32 - 1)


@dataclass
class RunOptions(checkpointing.RunOptions):
    """How one invocation runs (see :class:`gazevos.train.checkpointing.RunOptions`), plus
    ``init_arch``: ``init`` is an official HRNet release file of this architecture."""

    init_arch: str | None = None


def build_model(cfg: SemsegTrainConfig) -> HRNet:
    """A fresh HRNet of ``cfg.arch`` with ``len(cfg.classes)`` outputs."""
    if cfg.arch not in ARCHITECTURES:
        raise GazevosError(f"unknown architecture '{cfg.arch}' (known: "
                           f"{', '.join(ARCHITECTURES)})")
    arch = dataclasses.replace(ARCHITECTURES[cfg.arch], num_classes=len(cfg.classes))
    return HRNet(arch)


class BatchSampler:
    """Random batches with a shared random crop position per image and random flips."""

    def __init__(self, cfg: SemsegTrainConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng

    def _crop(self, n: int, h: int, w: int) -> list[tuple[int, int, bool]]:
        ch, cw = self.cfg.crop
        ch, cw = (min(ch, h) or h), (min(cw, w) or w)
        return [(int(self.rng.integers(0, h - ch + 1)), int(self.rng.integers(0, w - cw + 1)),
                 bool(self.cfg.flip and self.rng.random() < 0.5)) for _ in range(n)]

    def take(self, images: np.ndarray, labels: np.ndarray | None, n: int
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` random crops: ``(n, 3, h, w)`` input and ``(n, h, w)`` int64 labels."""
        idx = self.rng.integers(0, len(images), size=n)
        h, w = images.shape[1:3]
        ch, cw = (min(self.cfg.crop[0], h) or h), (min(self.cfg.crop[1], w) or w)
        imgs, labs = [], []
        for i, (y, x, flip) in zip(idx, self._crop(n, h, w), strict=True):
            sl = (slice(y, y + ch), slice(x, x + cw))
            img = images[i][sl]
            lab = None if labels is None else labels[i][sl]
            if flip:
                img = img[:, ::-1]
                lab = None if lab is None else lab[:, ::-1]
            imgs.append(img)
            labs.append(lab)
        x_t = normalize(np.stack(imgs))
        y_t = None if labels is None else torch.from_numpy(np.stack(labs).astype(np.int64))
        return x_t, y_t


def train_semseg(source: LabelledSet, target: np.ndarray | None,
                 out_dir: str | os.PathLike[str], cfg: SemsegTrainConfig,
                 opts: RunOptions, command: str | None = None) -> Path:
    """Train (source only) or adapt (DANN, when ``target`` is given) a segmentation model.

    The run writes into its staging folder and moves into ``out_dir`` when all steps are
    done (:mod:`gazevos.train.staging`); an invocation that stops on its budget keeps the
    stage for ``opts.resume``.

    Args:
        source: labelled images at the working size.
        target: ``(N, H, W, 3)`` uint8 unlabelled target frames, or None.
        out_dir: folder for ``last.pt``, ``model.pt``, ``log.csv``, ``config.yaml``.
        cfg: hyper-parameters.
        opts: resume / init / chunking options.
        command: the command recorded in the run's manifest (default ``train semseg``,
            ``adapt semseg`` with a target).

    Returns:
        Path of ``model.pt``: in ``out_dir`` when training is finished, else in the stage.

    Raises:
        GazevosError: bad input or settings (nothing is left behind), or a non-finite loss.
        TrainingInterrupted: Ctrl-C / SIGTERM, after saving ``last.pt`` in the stage.
    """
    checkpointing.set_threads(opts.threads)
    device, amp = checkpointing.training_device(opts)
    if len(source.images) == 0:
        raise GazevosError("no labelled source images")
    top = int(source.labels[source.labels != IGNORE_INDEX].max(initial=0))
    if top >= len(cfg.classes):
        raise GazevosError(f"labels go up to {top} but there are {len(cfg.classes)} classes")
    if cfg.class_weights and len(cfg.class_weights) != len(cfg.classes):
        raise GazevosError(f"class_weights has {len(cfg.class_weights)} entries for "
                           f"{len(cfg.classes)} classes")
    weight = (torch.tensor(cfg.class_weights, dtype=torch.float32) if cfg.class_weights
              else None)
    adapt = target is not None
    if command is None:
        command = "adapt semseg" if adapt else "train semseg"
    data = {"source": staging.array_fingerprint(source.images, source.labels),
            "target": None if target is None else staging.array_fingerprint(target)}
    weights = staging.weight_fingerprints(init=opts.init, resume_from=opts.resume_from)
    weights["init_arch"] = opts.init_arch
    key = staging.training_key(command, cfg, data, weights=weights)
    trun = staging.open_training_run(out_dir, key, force=opts.force, resume=opts.resume,
                                     note=opts.note)
    try:
        state, resume_path = trun.resume_state(read_checkpoint, opts.resume_from, hint="")
        if state is not None and adapt != ("discriminator" in state):
            raise GazevosError("resume with the same target setting as the first run",
                               resume_path)
    except GazevosError:
        trun.discard_fresh()
        raise
    out = trun.stage
    torch.manual_seed(cfg.seed)
    step = 0 if state is None else int(state["step"])
    rng = np.random.default_rng((cfg.seed, step))
    if state is not None:
        model = model_from_checkpoint(state, str(resume_path))
    elif opts.init:
        from gazevos.models.semseg.checkpoint import load_model
        model = load_model(opts.init, opts.init_arch)
        if tuple(model.classes) != tuple(cfg.classes):
            trun.run.discard()  # type: ignore[union-attr]
            raise GazevosError(f"the model's classes {list(model.classes)} differ from the "
                               f"config's {list(cfg.classes)}", opts.init)
    else:
        model = build_model(cfg)
    if state is None and not opts.init:
        model.classes, model.palette = cfg.classes, palette_for(cfg.classes)
    disc = DomainDiscriminator(model.feature_channels, cfg.disc_width)
    if state is not None and adapt:
        load_state_strict(disc, state["discriminator"], str(resume_path))
    model.to(device)
    disc.to(device)
    if weight is not None:
        weight = weight.to(device)
    params = list(model.parameters()) + (list(disc.parameters()) if adapt else [])
    opt = torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scaler = grad_scaler(device, amp)
    if state is not None:
        opt.load_state_dict(state["optimizer"])  # its tensors follow the parameters' device
        if scaler.is_enabled() and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if "rng" in state:  # the batches the uninterrupted run would draw
            staging.set_rng_state(rng, state["rng"])
    sampler = BatchSampler(cfg, rng)
    model.train()
    disc.train()
    boundary = staging.rng_state(rng)  # the generators' state after the last whole step

    def checkpoint() -> None:
        extra: dict[str, Any] = {"step": step, "train_config": config_to_dict(cfg)}
        save_atomic(out / "model.pt", model_to_checkpoint(model, model.classes,
                                                          model.palette, **extra))
        if adapt:
            extra["discriminator"] = weights_of(disc)
        if scaler.is_enabled():
            extra["scaler"] = scaler.state_dict()
        save_atomic(out / "last.pt", model_to_checkpoint(model, model.classes, model.palette,
                                                         optimizer=opt.state_dict(),
                                                         rng=boundary, **extra))
        trun.progress(step, cfg.steps)

    try:
        with checkpointing.session(out, cfg, opts, step=step, total=cfg.steps,
                                   desc=command, columns=("loss", "cls_loss", "domain_loss",
                                                          "domain_acc"),
                                   resumed=state is not None and resume_path == out / LAST
                                   ) as run:
            while step < cfg.steps and not run.out_of_budget(step):
                xs, ys = sampler.take(source.images, source.labels, cfg.batch_size)
                assert ys is not None
                xs, ys = xs.to(device), ys.to(device)
                if adapt:
                    xt, _ = sampler.take(target, None, cfg.target_batch_size)
                    with autocast(device, amp):
                        feats = model.features(torch.cat([xs, xt.to(device)]))
                        logits = model.classify(feats[: len(xs)])
                        cls = segmentation_loss(logits.float(), ys, weight)
                        d = disc(grad_reverse(feats, cfg.grl_scale)).float()
                        dl = domain_loss(d[: len(xs)], d[len(xs):])
                        loss = dann_loss(cls, dl, cfg.dann_lambda)
                    acc = float(((d[: len(xs)] > 0).float().sum()
                                 + (d[len(xs):] <= 0).float().sum()) / len(d))
                else:
                    with autocast(device, amp):
                        cls = segmentation_loss(model(xs).float(), ys, weight)
                    dl, acc, loss = torch.zeros(()), float("nan"), cls
                backward(opt, loss, step, scaler)
                with staging.interrupts_deferred():  # update, count and log as one
                    step_optimizer(opt, scaler)
                    step += 1
                    boundary = staging.rng_state(rng)
                    run.record(step, [f"{loss.item():.6f}", f"{cls.item():.6f}",
                                      f"{dl.item():.6f}", f"{acc:.3f}"],
                               loss=f"{loss.item():.4f}")
                    if step % cfg.save_every == 0:
                        checkpoint()
            checkpoint()
    except KeyboardInterrupt as exc:  # save at this step, then stop
        raise trun.interrupted(exc, checkpoint, step, cfg.steps) from exc
    return trun.finish(step >= cfg.steps) / "model.pt"


@torch.no_grad()
def confusion(model: HRNet, images: np.ndarray, labels: np.ndarray, batch: int = 8
              ) -> np.ndarray:
    """``(C, C)`` int64 confusion matrix (rows: truth, columns: prediction) over all
    non-ignored pixels of ``images`` ``(N, H, W, 3)`` with ``labels`` ``(N, H, W)``."""
    c = model.config.num_classes
    conf = np.zeros((c, c), dtype=np.int64)
    model.eval()
    device = module_device(model)
    for i in range(0, len(images), batch):
        x = normalize(images[i:i + batch]).to(device)
        logits = torch.nn.functional.interpolate(model(x), size=x.shape[-2:],
                                                 mode="bilinear", align_corners=False)
        pred = logits.argmax(1).cpu().numpy()
        gt = labels[i:i + batch]
        ok = gt != IGNORE_INDEX
        conf += np.bincount(gt[ok].astype(np.int64) * c + pred[ok],
                            minlength=c * c).reshape(c, c)
    return conf


def iou_from_confusion(conf: np.ndarray) -> np.ndarray:
    """Per-class IoU ``(C,)``: TP / (TP + FP + FN) (NaN for a class absent everywhere)."""
    tp = np.diag(conf).astype(np.float64)
    denom = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / denom, np.nan)
