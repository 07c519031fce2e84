"""Self-supervised MAST training on raw video (thesis chapter 4), single- or multi-process.

Each step draws a batch of clips (R reference frames + a query frame, same random crop,
flips and 90-degree rotations), encodes them in LAB with one channel dropped, reconstructs
the query from the references with :func:`gazevos.models.mast.reconstruct` (the code path
used for label propagation) and applies either

* ``regression``: Huber loss on the dropped a or b channel (MAST), or
* ``classification``: cross-entropy on 16 k-means colour clusters (CorrFlow).

Run under ``torchrun`` for DistributedDataParallel (gloo backend; CPU, or one GPU per
process with ``--device cuda``: the encoder under float16 autocast with loss scaling there
unless ``--no-amp``, the memory search in float32).  Checkpoints (``last.pt``: weights +
optimiser + step + random states; ``model.pt``: weights only; CPU tensors whatever the
device) are written atomically into the run's staging folder every ``save_every`` steps
and on Ctrl-C / SIGTERM, so a run stopped at any point resumes
(:mod:`gazevos.train.staging`).
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
import torch.nn.functional as F

from gazevos.config import config_to_dict, setting
from gazevos.devices import Autocast, grad_scaler
from gazevos.errors import GazevosError
from gazevos.losses.mast import (
    assign_clusters,
    cluster_classification_loss,
    huber_reconstruction_loss,
)
from gazevos.models.checkpoint import load_state_strict
from gazevos.models.mast.model import (
    MastModel,
    MastModelConfig,
    model_config_from_dict,
    model_to_checkpoint,
    read_checkpoint,
    rgb_to_lab,
)
from gazevos.models.mast.propagate import SearchConfig, reconstruct
from gazevos.train import checkpointing, staging
from gazevos.train.checkpointing import RunOptions, backward, save_atomic, step_optimizer
from gazevos.train.staging import LAST
from gazevos.train.video_data import ClipSampler, discover_videos, load_video


@dataclass(frozen=True)
class MastTrainConfig:
    """Every hyper-parameter of MAST training (preset: ``configs/mast.yaml``).

    Attributes:
        model: encoder architecture and affinity.
        search: two-stage search windows (``roi_window`` w, ``key_window`` w').
        loss: ``classification`` (colour clusters) or ``regression`` (Huber on a or b).
        num_clusters: k of the k-means colour clusters.
        huber_delta: threshold of the Huber loss.
        channel_dropout: probability of zeroing one random LAB channel of a clip's input
            (classification; regression always drops its target channel).
        frame_scale: frames are resized by this factor when loaded.
        crop_size: side of the square training crop (pixels, after scaling).
        batch_size: clips per step and process.
        short_term_gaps: gaps of the short-term references (MAST: t-5, t-3, t-1).
        long_term_refs: number of references drawn further back.
        long_term_max_gap: largest gap of a long-term reference.
        flip, rot90: augmentations.
        learning_rate: Adam learning rate.
        steps: total optimisation steps.
        save_every: checkpoint period (steps).
        max_frames_per_video: frames kept per video (the first ones).
        seed: random seed (each process adds its rank).
    """

    model: MastModelConfig = MastModelConfig()
    search: SearchConfig = SearchConfig()
    loss: str = "classification"
    num_clusters: int = setting(16, ge=2, le=4096)
    huber_delta: float = setting(0.1, gt=0.0)
    channel_dropout: float = setting(1.0, ge=0.0, le=1.0)
    frame_scale: float = setting(0.5, gt=0.0, le=4.0)
    crop_size: int = setting(128, ge=8, le=4096)
    batch_size: int = setting(4, ge=1, le=4096)
    short_term_gaps: tuple[int, ...] = setting((1, 3), ge=1)
    long_term_refs: int = setting(1, ge=0, le=64)
    long_term_max_gap: int = setting(30, ge=1)
    flip: bool = True
    rot90: bool = True
    learning_rate: float = setting(1e-3, ge=0.0, le=10.0)
    steps: int = setting(20000, ge=1)
    save_every: int = setting(100, ge=1)
    max_frames_per_video: int = setting(3000, ge=1)
    seed: int = setting(0, ge=0, le=2**31)


def fit_colour_clusters(videos: Sequence[np.ndarray], k: int, seed: int) -> np.ndarray:
    """k-means centres of LAB colours sampled from the videos: ``(k, 3)`` float32."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    pixels = []
    for v in videos:
        for i in np.linspace(0, v.shape[0] - 1, num=min(10, v.shape[0])).astype(int):
            lab = rgb_to_lab(v[i]).reshape(3, -1).T
            pixels.append(lab[rng.choice(lab.shape[0], size=min(2000, lab.shape[0]),
                                         replace=False)])
    data = np.concatenate(pixels)
    if data.shape[0] < k:
        raise GazevosError(f"too few pixels to fit {k} colour clusters")
    km = KMeans(n_clusters=k, n_init=2, random_state=seed).fit(data)
    return km.cluster_centers_.astype(np.float32)


def clip_batch(sampler: ClipSampler, batch: int, gaps: tuple[int, ...]) -> torch.Tensor:
    """``(B, R + 1, 3, S, S)`` LAB clips (references first, query last)."""
    clips = [np.stack([rgb_to_lab(f) for f in sampler.clip(gaps)]) for _ in range(batch)]
    return torch.from_numpy(np.stack(clips))


def mast_loss(model: torch.nn.Module, lab: torch.Tensor, gaps: Sequence[int],
              cfg: MastTrainConfig, centres: torch.Tensor | None,
              rng: np.random.Generator) -> torch.Tensor:
    """The self-supervised loss of one batch.

    Args:
        model: the encoder (possibly DDP-wrapped).
        lab: ``(B, R + 1, 3, S, S)`` LAB clips, query last.
        gaps: the R reference gaps.
        cfg: settings (loss, dropout, search, affinity).
        centres: ``(K, 3)`` colour clusters (classification).
        rng: draws the dropped channels.
    """
    b, n, _, s, _ = lab.shape
    x = lab.clone()
    if cfg.loss == "regression":
        chans = rng.integers(1, 3, size=b)  # a or b
        drop = np.ones(b, dtype=bool)
    elif cfg.loss == "classification":
        if centres is None:
            raise ValueError("classification needs colour cluster centres")
        chans = rng.integers(0, 3, size=b)
        drop = rng.random(b) < cfg.channel_dropout
    else:
        raise GazevosError(f"unknown loss '{cfg.loss}' (classification or regression)")
    for i in range(b):
        if drop[i]:
            x[i, :, int(chans[i])] = 0.0
    feats = model(x.view(b * n, 3, s, s))
    feats = feats.view(b, n, *feats.shape[1:])
    hw = feats.shape[-2:]
    refs = [feats[:, r] for r in range(n - 1)]
    if cfg.loss == "regression":
        sel = torch.as_tensor(chans, dtype=torch.long, device=lab.device)
        target_all = lab[torch.arange(b, device=lab.device), :, sel].unsqueeze(2)
        values = [F.adaptive_avg_pool2d(target_all[:, r], hw) for r in range(n - 1)]
        pred = reconstruct(feats[:, -1], refs, values, gaps, cfg.search, cfg.model.affinity)
        return huber_reconstruction_loss(pred, target_all[:, -1], cfg.huber_delta)
    labels = assign_clusters(lab.view(b * n, 3, s, s), centres).view(b, n, s, s)
    onehot = F.one_hot(labels, cfg.num_clusters).permute(0, 1, 4, 2, 3).float()
    values = [F.adaptive_avg_pool2d(onehot[:, r], hw) for r in range(n - 1)]
    pred = reconstruct(feats[:, -1], refs, values, gaps, cfg.search, cfg.model.affinity)
    return cluster_classification_loss(pred, labels[:, -1])


def train_mast(inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
               cfg: MastTrainConfig, opts: RunOptions) -> Path:
    """Train (or resume / fine-tune) a MAST encoder on raw videos.

    The run writes into its staging folder and moves into ``out_dir`` when all steps are
    done (:mod:`gazevos.train.staging`); an invocation that stops on its budget returns
    the stage's ``model.pt`` and keeps the stage for ``opts.resume``.

    Args:
        inputs: video files, frame folders, DAVIS roots (see :func:`discover_videos`).
        out_dir: folder for ``last.pt``, ``model.pt``, ``log.csv`` and ``config.yaml``.
        cfg: hyper-parameters.
        opts: resume / chunking options.

    Returns:
        Path of ``model.pt`` (in ``out_dir`` when training is finished, else in the stage).

    Raises:
        GazevosError: bad input or settings (nothing is left behind), or a non-finite loss.
        TrainingInterrupted: Ctrl-C / SIGTERM, after saving ``last.pt`` in the stage.
    """
    rank, world = checkpointing.join_process_group(opts)
    device, amp = checkpointing.training_device(opts, world)
    from_state = read_checkpoint(opts.resume_from) if opts.resume_from else None
    init_state = read_checkpoint(opts.init) if opts.init else None
    src = from_state or init_state
    if src is not None:  # the architecture comes with the weights
        cfg = dataclasses.replace(cfg, model=model_config_from_dict(
            src["model_config"], str(opts.resume_from or opts.init)))
    paths = discover_videos(inputs)
    videos = [load_video(p, cfg.frame_scale, cfg.max_frames_per_video) for p in paths]
    key = staging.training_key(
        "train mast", cfg, {"videos": staging.data_fingerprints(paths)},
        weights=staging.weight_fingerprints(init=opts.init, resume_from=opts.resume_from),
        world_size=world)
    trun = staging.open_training_run(out_dir, key, force=opts.force, resume=opts.resume,
                                     rank=rank, world=world, note=opts.note)
    state, resume_path = trun.resume_state(read_checkpoint, opts.resume_from)
    out = trun.stage
    src = state or init_state
    if state is not None:
        cfg = dataclasses.replace(cfg, model=model_config_from_dict(
            state["model_config"], str(resume_path)))
    step = 0 if state is None else int(state["step"])
    rng = np.random.default_rng(cfg.seed + 1000 * rank + step)
    torch.manual_seed(cfg.seed)
    sampler = ClipSampler(videos, cfg.short_term_gaps, cfg.long_term_refs,
                          cfg.long_term_max_gap, cfg.crop_size, cfg.flip, cfg.rot90, rng)
    model = MastModel(cfg.model)
    if src is not None:
        load_state_strict(model, src["state_dict"], str(resume_path or opts.init))
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    scaler = grad_scaler(device, amp)
    centres_np = None
    if state is not None:
        opt.load_state_dict(state["optimizer"])  # its tensors follow the parameters' device
        if scaler.is_enabled() and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        centres_np = state.get("clusters")
        if world == 1 and "rng" in state:  # the batches the uninterrupted run would draw
            staging.set_rng_state(rng, state["rng"])
    if cfg.loss == "classification" and centres_np is None:
        centres_np = torch.from_numpy(fit_colour_clusters(videos, cfg.num_clusters, cfg.seed))
    centres = None if centres_np is None else torch.as_tensor(centres_np, dtype=torch.float32)
    if world > 1 and centres is not None:
        dist.broadcast(centres, src=0)
    if centres is not None:
        centres = centres.to(device)
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    if amp:  # the encoder in mixed precision; the memory search stays float32
        net = Autocast(net, device)
    boundary = staging.rng_state(rng)  # the generators' state after the last whole step

    def checkpoint() -> None:
        if rank != 0:
            return
        extra = {"clusters": None if centres is None else centres.cpu(),
                 "train_config": config_to_dict(cfg), "rng": boundary}
        if scaler.is_enabled():
            extra["scaler"] = scaler.state_dict()
        save_atomic(out / "model.pt", model_to_checkpoint(model, step=step))
        save_atomic(out / "last.pt", model_to_checkpoint(model, step=step,
                                                         optimizer=opt.state_dict(), **extra))
        trun.progress(step, cfg.steps)

    try:
        with checkpointing.session(out, cfg, opts, step=step, total=cfg.steps,
                                   desc="train mast", columns=("loss",),
                                   resumed=state is not None and resume_path == out / LAST,
                                   main=rank == 0) as run:
            while step < cfg.steps and not run.out_of_budget(step):
                gaps = sampler.gaps()
                if world > 1:  # every process must use the same reference gaps
                    g = torch.tensor(gaps)
                    dist.broadcast(g, src=0)
                    gaps = tuple(int(v) for v in g)
                lab = clip_batch(sampler, cfg.batch_size, gaps).to(device)
                loss = mast_loss(net, lab, gaps, cfg, centres, rng)
                backward(opt, loss, step, scaler)
                with staging.interrupts_deferred():  # update, count and log as one
                    step_optimizer(opt, scaler)
                    step += 1
                    boundary = staging.rng_state(rng)
                    run.record(step, [f"{loss.item():.6f}"], loss=f"{loss.item():.4f}")
                    if step % cfg.save_every == 0:
                        checkpoint()
            checkpoint()
    except KeyboardInterrupt as exc:  # save at this step, then stop
        raise trun.interrupted(exc, checkpoint, step, cfg.steps) from exc
    if world > 1:
        dist.barrier()
    return trun.finish(step >= cfg.steps) / "model.pt"
