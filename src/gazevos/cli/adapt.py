"""``gazevos adapt semseg``: DANN adaptation of a segmentation model to unlabelled video;
also ``gazevos train semseg`` (registered on the ``train`` group by ``cli._register``)."""

from __future__ import annotations

import click

from gazevos.cli._semseg_common import run_semseg, semseg_options
from gazevos.cli.options import semseg_model_options
from gazevos.errors import GazevosError


@click.group()
def adapt() -> None:
    """Adapt trained models to your recordings without labels."""


@adapt.command("semseg")
@semseg_model_options("Model to adapt")
@click.option("--source", "data", multiple=True, required=True, type=click.Path(),
              help="Labelled source images (DAVIS root or images/ + labels/), repeatable.")
@semseg_options
def adapt_semseg(checkpoint: str, arch: str | None, data: tuple[str, ...],
                 **kw: object) -> None:
    """Adapt CHECKPOINT to the unlabelled --target frames with DANN: labelled --source
    images keep the classifier, a discriminator behind a gradient reversal layer aligns
    the features (loss L_cls + lambda L_D)."""
    if not kw["targets"]:
        raise GazevosError("adapt needs at least one --target video or frame folder")
    run_semseg(data, kw, init=checkpoint, init_arch=arch, command="adapt semseg")


@click.command("semseg")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(),
              help="Labelled images: DAVIS root or folder with images/ + labels/ (repeatable).")
@click.option("--arch", default=None,
              help="Architecture: small, w18-small-v1, w18-small-v2, w48 (default: preset).")
@click.option("--init", "init", type=click.Path(dir_okay=False), default=None,
              help="Start from these weights (gazevos segmentation checkpoint).")
@semseg_options
def train_semseg(data: tuple[str, ...], arch: str | None, init: str | None,
                 **kw: object) -> None:
    """Train an HRNet segmentation model on labelled images (masks); with --target, adapt
    it jointly to unlabelled target frames (DANN)."""
    run_semseg(data, kw, init=init, arch=arch)
