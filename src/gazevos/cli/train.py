"""``gazevos train``: MAST (self-supervised, raw video) and RANet (supervised, DAVIS masks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gazevos.cli.options import finite_float, out_option, run_options, run_options_kwargs
from gazevos.config import load_config

_OUT_HELP = ("Folder for checkpoints (last.pt, model.pt), log.csv and config.yaml; it "
             "appears when training is finished (until then the run is staged beside it).")
#: ``--steps``: at least one step (0 or less would write an untrained model)
STEPS = click.IntRange(min=1)
#: ``--lr``: a finite, positive learning rate
LEARNING_RATE = finite_float(min=0.0, min_open=True, max=10.0)
resume_from_option = click.option(
    "--resume-from", type=click.Path(dir_okay=False), default=None,
    help="Continue from this training checkpoint (weights, optimiser, step).")


def run_training(train_fn: Callable[[], Path], out_dir: str) -> Path:
    """Run ``train_fn`` (a trainer returning its ``model.pt``) and say where the model is.

    Prints ``model: PATH`` for a finished run, or where the unfinished run is kept and how
    to continue it when the invocation stopped on ``--chunk-steps`` / ``--time-limit``.
    Ctrl-C / SIGTERM: a warning line saying where the run was saved and how to continue,
    then the interrupt goes on to :func:`gazevos.cli.main` (its line and exit code).
    """
    from gazevos.train.staging import TrainingInterrupted, staged_progress

    try:
        path = train_fn()
    except TrainingInterrupted as exc:
        click.echo(f"gazevos: warning: {exc}", err=True)
        raise
    if path.parent.resolve() == Path(out_dir).resolve():
        click.echo(f"model: {path}")
    else:
        step, total, stage = staged_progress(out_dir)
        at = f"step {step} of {total}" if step is not None else "an unfinished run"
        click.echo(f"stopped at {at}: the run is kept in {stage} (model so far: {path}); "
                   "continue it with the same command and --resume")
    return path


@click.group()
def train() -> None:
    """Train models on your own, unlabelled recordings."""


@train.command("mast")
@click.option("--frames", "inputs", multiple=True, required=True, type=click.Path(),
              help="Video file, frame folder, DAVIS root or folder of videos (repeatable).")
@out_option(_OUT_HELP)
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="YAML preset (default: the shipped 'mast' preset).")
@click.option("--loss", type=click.Choice(["classification", "regression"]), default=None,
              help="Override the preset's loss.")
@click.option("--steps", type=STEPS, default=None, help="Total optimisation steps.")
@click.option("--lr", "learning_rate", type=LEARNING_RATE, default=None,
              help="Adam learning rate.")
@run_options
@resume_from_option
@click.option("--init", "init", type=click.Path(dir_okay=False), default=None,
              help="Start from these weights (fine-tune, e.g. the shipped model).")
def mast(inputs: tuple[str, ...], out_dir: str, config: str | None, loss: str | None,
         steps: int | None, learning_rate: float | None, resume_from: str | None,
         init: str | None, **run: Any) -> None:
    """Train MAST on raw frames (no masks).  Multi-process: run under torchrun, e.g.
    ``torchrun --nproc_per_node 2 -m gazevos.cli train mast ...``."""
    from gazevos.train.mast import MastTrainConfig, RunOptions, train_mast

    cfg = load_config(MastTrainConfig, config or "mast",
                      {"loss": loss, "steps": steps, "learning_rate": learning_rate})
    opts = RunOptions(resume_from=resume_from, init=init, **run_options_kwargs(run))
    run_training(lambda: train_mast(inputs, out_dir, cfg, opts), out_dir)


@train.command("ranet")
@click.option("--root", required=True, type=click.Path(file_okay=False),
              help="DAVIS-layout folder (JPEGImages/480p, Annotations/480p).")
@click.option("--sequences-file", required=True, type=click.Path(dir_okay=False),
              help="Training sequences, one name per line.")
@click.option("--val-file", type=click.Path(dir_okay=False), default=None,
              help="Validation sequences for early stopping (default: none).")
@out_option(_OUT_HELP)
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="YAML preset of RanetTrainConfig (default: built-in defaults).")
@click.option("--loss", type=click.Choice(["bce", "iou", "log_iou"]), default=None,
              help="Loss (default iou: soft IoU, thesis).")
@click.option("--discriminant/--no-discriminant", default=None,
              help="Discriminant score in the RAM.")
@click.option("--nms/--no-nms", default=None, help="NMS-style boost of local maxima.")
@click.option("--steps", type=STEPS, default=None, help="Maximum optimisation steps.")
@click.option("--lr", "learning_rate", type=LEARNING_RATE, default=None,
              help="Adam learning rate.")
@run_options
@resume_from_option
@click.option("--init", "init", type=click.Path(dir_okay=False), default=None,
              help="Start from these RANet weights (fine-tune, e.g. the shipped model).")
@click.option("--init-encoder", type=click.Path(dir_okay=False), default=None,
              help="Start the encoder from these weights: a MAST checkpoint (e.g. the shipped "
                   "mast.pt) with 'model: {encoder: mast}', or the U2-Netp ONNX export "
                   "(u2netp.onnx) with 'model: {encoder: u2netp}' in the config.")
def ranet(root: str, sequences_file: str, val_file: str | None, out_dir: str,
          config: str | None, loss: str | None, discriminant: bool | None, nms: bool | None,
          steps: int | None, learning_rate: float | None, resume_from: str | None,
          init: str | None, init_encoder: str | None, **run: Any) -> None:
    """Train RANet on annotated DAVIS-layout sequences.  Multi-process: run under
    torchrun, e.g. ``torchrun --nproc_per_node 2 -m gazevos.cli train ranet ...``."""
    from gazevos.eval.davis import read_sequences_file, resolve_sequences
    from gazevos.train.ranet import RanetTrainConfig, RunOptions, train_ranet

    model = {k: v for k, v in (("discriminant", discriminant), ("nms", nms)) if v is not None}
    cfg = load_config(RanetTrainConfig, config,
                      {"loss": loss, "steps": steps, "learning_rate": learning_rate,
                       "model": model or None})
    opts = RunOptions(resume_from=resume_from, init=init, **run_options_kwargs(run))
    names = resolve_sequences(root, sequences_file=sequences_file)
    val = read_sequences_file(val_file) if val_file else []
    if val:
        val = resolve_sequences(root, val)
    run_training(lambda: train_ranet(root, names, val, out_dir, cfg, opts,
                                     init_encoder=init_encoder), out_dir)
