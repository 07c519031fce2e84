"""``gazevos import DEVICE SRC DST``: convert a device recording with glassesTools' importers."""

from __future__ import annotations

import click

from gazevos.cli.options import force_option
from gazevos.io.recordings.glassestools import GLASSESTOOLS_DEVICES, import_with_glassestools


@click.command("import")
@click.argument("device", type=click.Choice(sorted(GLASSESTOOLS_DEVICES)))
@click.argument("src", type=click.Path(file_okay=False))
@click.argument("dst", type=click.Path(file_okay=False))
@click.option("--no-video-copy", is_flag=True,
              help="Reference the scene video in SRC instead of copying it into DST.")
@force_option
def gaze_import(device: str, src: str, dst: str, no_video_copy: bool, force: bool) -> None:
    """Convert the DEVICE recording in SRC into a glassesTools folder DST.

    Uses the glassesTools importers (optional: see the install hint printed when it is
    missing).  The result is read back as a check; `gazevos` reads DST directly.
    """
    rec = import_with_glassestools(device, src, dst, force=force,
                                   copy_scene_video=not no_video_copy)
    w, h = rec.resolution
    click.echo(f"imported {device} recording into {dst}: {len(rec.gaze)} gaze samples, "
               f"{len(rec.frame_times)} frames, {w}x{h}")
