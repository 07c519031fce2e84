"""Option helpers shared by ``gazevos train semseg`` and ``gazevos adapt semseg``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import click

from gazevos.cli.options import (
    finite_float,
    out_option,
    run_options,
    run_options_kwargs,
    stack,
)
from gazevos.cli.train import LEARNING_RATE, STEPS, run_training
from gazevos.config import load_config


def semseg_options(f):  # noqa: ANN001, ANN201 - click decorator
    """Options common to semseg training and adaptation."""
    opts = [
        click.option("--target", "targets", multiple=True, type=click.Path(),
                     help="Unlabelled target video / frame folder (repeatable)."),
        click.option("--sequences", default=None,
                     help="Comma-separated DAVIS sequences of the labelled data (default: all)."),
        click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Take every N-th labelled image and target frame."),
        out_option("Folder for model.pt, last.pt, log.csv and config.yaml; it appears when "
                   "training is finished (until then the run is staged beside it)."),
        click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                     help="YAML preset (default: the shipped 'semseg' preset)."),
        click.option("--steps", type=STEPS, default=None, help="Total optimisation steps."),
        click.option("--lr", "learning_rate", type=LEARNING_RATE, default=None,
                     help="Adam learning rate."),
        click.option("--lambda", "dann_lambda", type=finite_float(min=0.0, max=1e3),
                     default=None, help="DANN weight lambda of the domain loss."),
        click.option("--size", type=click.IntRange(min=16, max=8192), nargs=2, default=None,
                     help="Working size H W every image is resized to."),
        click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=None,
                     help="Random seed."),
        run_options,
    ]
    return stack(*opts)(f)


def run_semseg(data: Sequence[str], kw: dict, init: str | None = None,
               init_arch: str | None = None, arch: str | None = None,
               command: str = "train semseg") -> str:
    """Load the data named by the CLI options and train (printing where the model is, see
    :func:`gazevos.cli.train.run_training`); returns the model path."""
    from gazevos.train.semseg import RunOptions, SemsegTrainConfig, train_semseg
    from gazevos.train.semseg_data import load_labelled, load_unlabelled

    opts = RunOptions(init=init, init_arch=init_arch, **run_options_kwargs(kw))  # --device
    cfg = load_config(SemsegTrainConfig, kw["config"] or "semseg", {
        "steps": kw["steps"], "learning_rate": kw["learning_rate"],
        "dann_lambda": kw["dann_lambda"], "seed": kw["seed"], "arch": arch,
        "size": tuple(kw["size"]) if kw["size"] else None})
    if init:  # the classes come with the weights
        from gazevos.models.semseg.checkpoint import load_model
        classes = tuple(load_model(init, init_arch).classes)
        cfg = dataclasses.replace(cfg, classes=classes,
                                  binary_masks=cfg.binary_masks and len(classes) == 2)
    seqs = [s for s in (kw["sequences"] or "").split(",") if s] or None
    source = load_labelled(data, cfg.size, len(cfg.classes), cfg.binary_masks, seqs,
                           kw["stride"])
    target = (load_unlabelled(kw["targets"], cfg.size, cfg.max_target_frames, kw["stride"])
              if kw["targets"] else None)
    return str(run_training(lambda: train_semseg(source, target, kw["out_dir"], cfg, opts,
                                                 command=command), kw["out_dir"]))
