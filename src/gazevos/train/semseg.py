"""Supervised segmentation training with optional DANN domain adaptation (thesis ch. 2).

Each step takes a batch of labelled source images and, when target frames are given, a
batch of unlabelled target frames; both go through HRNet in one forward pass (shared
batch-norm statistics), the source logits give the cross-entropy ``L_cls``, and the
features of both go through a gradient reversal layer into the domain discriminator,
giving ``L_D``.  The optimised loss is ``L = L_cls + lambda * L_D`` (eq. 2.2).  With no
target frames this is plain supervised training ("source only").

Checkpoints (``last.pt``: model + discriminator + optimiser + step; ``model.pt``: the
segmentation model only, a gazevos-semseg checkpoint) are written atomically every
``save_every`` steps, so a stopped run resumes with ``--resume``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gazevos.config import config_to_dict
from gazevos.errors import GazevosError
from gazevos.io import prepare_output_dir
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
from gazevos.train import checkpointing
from gazevos.train.checkpointing import optimise, save_atomic
from gazevos.train.semseg_data import LabelledSet


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
    size: tuple[int, int] = (120, 214)
    crop: tuple[int, int] = (96, 96)
    flip: bool = True
    class_weights: tuple[float, ...] = ()
    batch_size: int = 4
    target_batch_size: int = 4
    dann_lambda: float = 0.01
    grl_scale: float = 1.0
    disc_width: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    steps: int = 300
    save_every: int = 50
    max_target_frames: int = 2000
    seed: int = 0


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
                 opts: RunOptions) -> Path:
    """Train (source only) or adapt (DANN, when ``target`` is given) a segmentation model.

    Args:
        source: labelled images at the working size.
        target: ``(N, H, W, 3)`` uint8 unlabelled target frames, or None.
        out_dir: folder for ``last.pt``, ``model.pt``, ``log.csv``, ``config.yaml``.
        cfg: hyper-parameters.
        opts: resume / init / chunking options.

    Returns:
        Path of ``model.pt``.
    """
    if opts.threads:
        torch.set_num_threads(opts.threads)
    out = Path(out_dir)
    state, resume_path = checkpointing.read_resume_state(out, opts, read_checkpoint, hint="")
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
    prepare_output_dir(out, force=opts.force, resume=opts.resume)
    torch.manual_seed(cfg.seed)
    step = 0 if state is None else int(state["step"])
    rng = np.random.default_rng((cfg.seed, step))
    if state is not None:
        model = model_from_checkpoint(state, str(resume_path))
    elif opts.init:
        from gazevos.models.semseg.checkpoint import load_model
        model = load_model(opts.init, opts.init_arch)
        if tuple(model.classes) != tuple(cfg.classes):
            raise GazevosError(f"the model's classes {list(model.classes)} differ from the "
                               f"config's {list(cfg.classes)}", opts.init)
    else:
        model = build_model(cfg)
    if state is None and not opts.init:
        model.classes, model.palette = cfg.classes, palette_for(cfg.classes)
    adapt = target is not None
    disc = DomainDiscriminator(model.feature_channels, cfg.disc_width)
    params = list(model.parameters()) + (list(disc.parameters()) if adapt else [])
    opt = torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    if state is not None:
        if adapt != ("discriminator" in state):
            raise GazevosError("resume with the same target setting as the first run",
                               resume_path)
        if adapt:
            load_state_strict(disc, state["discriminator"], str(resume_path))
        opt.load_state_dict(state["optimizer"])
    sampler = BatchSampler(cfg, rng)
    model.train()
    disc.train()

    def checkpoint() -> None:
        extra: dict[str, Any] = {"step": step, "train_config": config_to_dict(cfg)}
        save_atomic(out / "model.pt", model_to_checkpoint(model, model.classes,
                                                          model.palette, **extra))
        if adapt:
            extra["discriminator"] = weights_of(disc)
        save_atomic(out / "last.pt", model_to_checkpoint(model, model.classes, model.palette,
                                                         optimizer=opt.state_dict(), **extra))

    with checkpointing.session(out, cfg, opts, step=step, total=cfg.steps,
                               desc="train semseg", resumed=state is not None,
                               columns=("loss", "cls_loss", "domain_loss", "domain_acc")
                               ) as run:
        while step < cfg.steps and not run.out_of_budget(step):
            xs, ys = sampler.take(source.images, source.labels, cfg.batch_size)
            assert ys is not None
            if adapt:
                xt, _ = sampler.take(target, None, cfg.target_batch_size)
                feats = model.features(torch.cat([xs, xt]))
                logits = model.classify(feats[: len(xs)])
                cls = segmentation_loss(logits, ys, weight)
                d = disc(grad_reverse(feats, cfg.grl_scale))
                dl = domain_loss(d[: len(xs)], d[len(xs):])
                acc = float(((d[: len(xs)] > 0).float().sum() + (d[len(xs):] <= 0).float()
                             .sum()) / len(d))
                loss = dann_loss(cls, dl, cfg.dann_lambda)
            else:
                cls = segmentation_loss(model(xs), ys, weight)
                dl, acc, loss = torch.zeros(()), float("nan"), cls
            optimise(opt, loss, step)
            step += 1
            run.record(step, [f"{loss.item():.6f}", f"{cls.item():.6f}", f"{dl.item():.6f}",
                              f"{acc:.3f}"], loss=f"{loss.item():.4f}")
            if step % cfg.save_every == 0:
                checkpoint()
        checkpoint()
    return out / "model.pt"


@torch.no_grad()
def confusion(model: HRNet, images: np.ndarray, labels: np.ndarray, batch: int = 8
              ) -> np.ndarray:
    """``(C, C)`` int64 confusion matrix (rows: truth, columns: prediction) over all
    non-ignored pixels of ``images`` ``(N, H, W, 3)`` with ``labels`` ``(N, H, W)``."""
    c = model.config.num_classes
    conf = np.zeros((c, c), dtype=np.int64)
    model.eval()
    for i in range(0, len(images), batch):
        x = normalize(images[i:i + batch])
        logits = torch.nn.functional.interpolate(model(x), size=x.shape[-2:],
                                                 mode="bilinear", align_corners=False)
        pred = logits.argmax(1).numpy()
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
