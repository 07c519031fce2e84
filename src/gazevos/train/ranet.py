"""Supervised RANet training on DAVIS-layout data (thesis 3.2.3), single- or multi-process.

Each step draws ``batch_size`` pairs per process (:mod:`gazevos.train.ranet_data`: real
template/target pairs with the thesis's augmentations and synthetic composites), runs
:meth:`RANet.forward` and applies the configured loss (BCE, soft IoU or -log IoU).  Every
``val_every`` steps the mean IoU (prediction > 0.5) on a fixed set of un-augmented pairs
from the validation sequences is measured; the best weights are kept in ``model.pt`` and
training stops after ``patience`` validations without improvement (early stopping).

``last.pt`` (weights, optimiser, step, early-stopping and random state) is written
atomically into the run's staging folder every ``save_every`` steps, at the end and on
Ctrl-C / SIGTERM, so any run resumes with ``--resume`` (:mod:`gazevos.train.staging`).  Under
``torchrun`` the model is wrapped in DistributedDataParallel (gloo, CPU).  ``--device``
trains on a GPU (one per torchrun process; float16 autocast and loss scaling unless
``--no-amp``); checkpoints hold CPU tensors either way.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from gazevos.config import config_to_dict, setting
from gazevos.devices import autocast, grad_scaler, module_device
from gazevos.errors import GazevosError
from gazevos.losses.ranet import LOSSES, segmentation_loss
from gazevos.models.checkpoint import load_state_strict, weights_of
from gazevos.models.ranet.checkpoint import config_from_dict, read_checkpoint, to_checkpoint
from gazevos.models.ranet.mast_encoder import load_mast_encoder
from gazevos.models.ranet.model import RANet, RANetConfig, normalise_image
from gazevos.models.ranet.u2net_encoder import load_u2netp_encoder
from gazevos.train import checkpointing, staging
from gazevos.train.checkpointing import RunOptions, backward, save_atomic, step_optimizer
from gazevos.train.ranet_data import PairConfig, PairSampler, load_sequences, stack_pairs
from gazevos.train.staging import LAST

__all__ = ["RanetTrainConfig", "RunOptions", "train_ranet", "validation_iou"]


@dataclass(frozen=True)
class RanetTrainConfig:
    """Every hyper-parameter of RANet training.

    Attributes:
        model: architecture and RAM switches.
        pairs: pair sampling and augmentation (``pairs.size`` is the input size).
        loss: ``bce``, ``iou`` (soft IoU, thesis) or ``log_iou``.
        frame_scale: frames are resized by this factor when loaded.
        batch_size: pairs per step and process.
        learning_rate: Adam learning rate.
        encoder_lr_scale: the encoder (``base_model``) learns at ``learning_rate`` times
            this (e.g. 0.1 to keep more of a pretrained encoder, the
            ``ranet_train_u2netp`` preset's setting; 1.0: one rate for all; 0: frozen).
        steps: maximum optimisation steps.
        save_every: checkpoint period (steps).
        val_every: validation period (steps; 0: no validation).
        val_pairs: number of fixed validation pairs.
        patience: validations without improvement before stopping (0: never stop).
        seed: random seed (each process adds its rank).
    """

    model: RANetConfig = RANetConfig()
    pairs: PairConfig = PairConfig()
    loss: str = "iou"
    frame_scale: float = setting(0.5, gt=0.0, le=4.0)
    batch_size: int = setting(4, ge=1, le=4096)
    learning_rate: float = setting(3e-4, ge=0.0, le=10.0)
    encoder_lr_scale: float = setting(1.0, ge=0.0, le=100.0)
    steps: int = setting(5000, ge=1)
    save_every: int = setting(50, ge=1)
    val_every: int = setting(50, ge=0)
    val_pairs: int = setting(32, ge=1)
    patience: int = setting(8, ge=0)
    seed: int = setting(0, ge=0, le=2**31)


def _tensors(batch: dict[str, np.ndarray], device: torch.device | None = None
             ) -> dict[str, torch.Tensor]:
    """The batch as tensors on ``device`` (None: the CPU), images ImageNet-normalised
    (``(B, 3, H, W)`` float32; masks ``(B, 1, H, W)``)."""
    out = {k: torch.from_numpy(v) for k, v in batch.items()}
    out["template_img"] = normalise_image(out["template_img"])
    out["target_img"] = normalise_image(out["target_img"])
    if device is not None:
        out = {k: v.to(device) for k, v in out.items()}
    return out


def _scaler_state(scaler: torch.amp.GradScaler) -> dict[str, object]:
    """``{"scaler": its state}`` for ``last.pt`` when AMP loss scaling is on, else ``{}``."""
    return {"scaler": scaler.state_dict()} if scaler.is_enabled() else {}


def fixed_pairs(sampler: PairSampler, n: int) -> dict[str, np.ndarray]:
    """``n`` pairs drawn once (the validation set; no synthetic pairs)."""
    return stack_pairs([sampler.sample() for _ in range(n)])


def validation_iou(model: RANet, batch: dict[str, np.ndarray], chunk: int = 8) -> float:
    """Mean IoU of ``sigmoid(logits) > 0.5`` against the target masks (void ignored)."""
    model.eval()
    ious = []
    device = module_device(model)
    with torch.inference_mode():
        n = batch["target_mask"].shape[0]
        for s in range(0, n, chunk):
            t = _tensors({k: v[s:s + chunk] for k, v in batch.items()}, device)
            pred = model(t["template_img"], t["template_mask"], t["target_img"],
                         t["prev_mask"]) > 0
            gt = t["target_mask"] > 0.5
            v = t["valid"] > 0.5
            inter = (pred & gt & v).flatten(1).sum(1).float()
            union = ((pred | gt) & v).flatten(1).sum(1).float()
            ious.append(torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter)))
    model.train()
    return float(torch.cat(ious).mean().cpu())


def train_ranet(root: str | os.PathLike[str], train_names: Sequence[str],
                val_names: Sequence[str], out_dir: str | os.PathLike[str],
                cfg: RanetTrainConfig, opts: RunOptions,
                init_encoder: str | os.PathLike[str] | None = None) -> Path:
    """Train (or resume / fine-tune) RANet on DAVIS-layout sequences.

    Args:
        root: DAVIS folder (``JPEGImages``/``Annotations``).
        train_names: training sequences.
        val_names: validation sequences (early stopping; empty: no validation).
        out_dir: folder for ``last.pt``, ``model.pt``, ``log.csv``, ``config.yaml``.
        cfg: hyper-parameters.
        opts: resume / chunking options (``init``: a gazevos RANet checkpoint).
        init_encoder: encoder weights to start from (fresh runs only, loaded strictly):
            a MAST checkpoint for ``cfg.model.encoder == "mast"``, or the U^2-Netp ONNX
            export / state dict for ``"u2netp"``.

    The run writes into its staging folder and moves into ``out_dir`` when training is
    finished (all steps, or early stopping; :mod:`gazevos.train.staging`); an invocation
    that stops on its budget keeps the stage for ``opts.resume``.

    Returns:
        Path of ``model.pt`` (the best validated weights, else the latest): in ``out_dir``
        when training is finished, else in the stage.

    Raises:
        GazevosError: bad input or settings (nothing is left behind), or a non-finite loss.
        TrainingInterrupted: Ctrl-C / SIGTERM, after saving ``last.pt`` in the stage.
    """
    if cfg.loss not in LOSSES:
        raise GazevosError(f"unknown loss '{cfg.loss}' (choose from {', '.join(LOSSES)})")
    rank, world = checkpointing.join_process_group(opts)
    device, amp = checkpointing.training_device(opts, world)
    from_state = read_checkpoint(opts.resume_from) if opts.resume_from else None
    init_state = read_checkpoint(opts.init) if opts.init else None
    if init_encoder is not None and init_state is not None:
        raise GazevosError("give either --init (RANet weights) or --init-encoder (encoder "
                           "weights), not both")

    def with_stored_model(c: RanetTrainConfig, src: dict, path: object) -> RanetTrainConfig:
        # the architecture comes with the weights; RAM switches from the config
        stored = config_from_dict(src["model_config"], str(path))
        ram = {k: getattr(c.model, k) for k in ("discriminant", "nms", "rank_gate")}
        return dataclasses.replace(c, model=dataclasses.replace(stored, **ram))

    src = from_state or init_state
    if src is not None:
        cfg = with_stored_model(cfg, src, opts.resume_from or opts.init)
    seqs = load_sequences(root, train_names, cfg.frame_scale)
    val_seqs = (load_sequences(root, val_names, cfg.frame_scale)
                if val_names and cfg.val_every > 0 and rank == 0 else [])
    data = {"train": [[s.name, staging.array_fingerprint(s.frames, s.labels)] for s in seqs],
            "val": [[s.name, staging.array_fingerprint(s.frames, s.labels)]
                    for s in val_seqs]}
    key = staging.training_key(
        "train ranet", cfg, data, world_size=world,
        weights=staging.weight_fingerprints(init=opts.init, resume_from=opts.resume_from,
                                            init_encoder=init_encoder))
    trun = staging.open_training_run(out_dir, key, force=opts.force, resume=opts.resume,
                                     rank=rank, world=world, note=opts.note)
    state, resume_path = trun.resume_state(read_checkpoint, opts.resume_from)
    out = trun.stage
    if state is not None:
        cfg = with_stored_model(cfg, state, resume_path)
    src = state or init_state
    step0 = 0 if state is None else int(state["step"])
    rng = np.random.default_rng(cfg.seed + 1000 * rank + step0)
    torch.manual_seed(cfg.seed)
    sampler = PairSampler(seqs, cfg.pairs, rng)
    val_batch = None
    if val_seqs:
        vcfg = dataclasses.replace(cfg.pairs, synthetic=0.0, rotate=0.0, flip=False,
                                   scale_range=(1.0, 1.0), prev_jitter=0.0, prev_morph=0.0)
        vs = PairSampler(val_seqs, vcfg, np.random.default_rng(12345))
        val_batch = fixed_pairs(vs, cfg.val_pairs)
    model = RANet(cfg.model)
    if src is not None:
        load_state_strict(model, src["state_dict"], str(resume_path or opts.init))
    elif init_encoder is not None and (cfg.model.encoder == "u2netp"
                                       or str(init_encoder).lower().endswith(".onnx")):
        load_u2netp_encoder(model, init_encoder)
    elif init_encoder is not None:
        load_mast_encoder(model, init_encoder)
    model.to(device)
    opt = torch.optim.Adam(model.param_groups(cfg.learning_rate, cfg.encoder_lr_scale),
                           lr=cfg.learning_rate)
    scaler = grad_scaler(device, amp)
    step, best, bad, stopped, best_step = 0, -1.0, 0, False, 0
    best_state = None
    if state is not None:
        opt.load_state_dict(state["optimizer"])  # its tensors follow the parameters' device
        if scaler.is_enabled() and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
        best, bad = float(state.get("best", -1.0)), int(state.get("bad", 0))
        best_step = int(state.get("best_step", 0))
        stopped = bool(state.get("stopped", False))
        if world == 1 and "rng" in state:  # the pairs the uninterrupted run would draw
            staging.set_rng_state(rng, state["rng"])
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    size = tuple(int(v) for v in cfg.pairs.size)

    boundary = staging.rng_state(rng)  # the generators' state after the last whole step

    def checkpoint() -> None:
        if rank != 0:
            return
        extra = {"input_size": size, "train_config": config_to_dict(cfg),
                 "sequences": list(train_names), "val_sequences": list(val_names)}
        if init_encoder is not None:
            extra["init_encoder"] = str(init_encoder)
        if val_batch is None or best_state is not None or not (out / "model.pt").is_file():
            weights = best_state if best_state is not None else None
            ck = to_checkpoint(model, step=best_step if weights is not None else step,
                               best=best, **extra)
            if weights is not None:
                ck["state_dict"] = weights
            save_atomic(out / "model.pt", ck)
        save_atomic(out / "last.pt", to_checkpoint(model, step=step, optimizer=opt.state_dict(),
                                                   best=best, bad=bad, stopped=stopped,
                                                   best_step=best_step, rng=boundary,
                                                   **extra, **_scaler_state(scaler)))
        trun.progress(step, cfg.steps)

    try:
        with checkpointing.session(out, cfg, opts, step=step, total=cfg.steps,
                                   desc="train ranet", columns=("loss", "val_iou"),
                                   resumed=state is not None and resume_path == out / LAST,
                                   main=rank == 0) as run:
            while step < cfg.steps and not stopped and not run.out_of_budget(step):
                t = _tensors(stack_pairs([sampler.sample() for _ in range(cfg.batch_size)]),
                             device)
                with autocast(device, amp):
                    logits = net(t["template_img"], t["template_mask"], t["target_img"],
                                 t["prev_mask"])
                    loss = segmentation_loss(cfg.loss, logits.float(), t["target_mask"],
                                             t["valid"])
                backward(opt, loss, step, scaler)
                # update, count, validate and log as one: an interrupt waits for them
                with staging.interrupts_deferred():
                    step_optimizer(opt, scaler)
                    step += 1
                    boundary = staging.rng_state(rng)
                    val = ""
                    if val_batch is not None and step % cfg.val_every == 0:
                        score = validation_iou(model, val_batch)
                        val = f"{score:.4f}"
                        if score > best:
                            best, bad, best_step = score, 0, step
                            best_state = weights_of(model)
                        else:
                            bad += 1
                            stopped = cfg.patience > 0 and bad >= cfg.patience
                    if world > 1:  # every process stops together
                        flag = torch.tensor([int(stopped)])
                        dist.broadcast(flag, src=0)
                        stopped = bool(flag.item())
                    run.record(step, [f"{loss.item():.6f}", val], loss=f"{loss.item():.4f}",
                               best=f"{best:.3f}")
                    if step % cfg.save_every == 0 or val:
                        checkpoint()
            checkpoint()
    except KeyboardInterrupt as exc:  # save at this step, then stop
        raise trun.interrupted(exc, checkpoint, step, cfg.steps) from exc
    if world > 1:
        dist.barrier()
    return trun.finish(step >= cfg.steps or stopped) / "model.pt"
