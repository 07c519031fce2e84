"""``gazevos propagate``: track a first-frame mask through a video or frame folder."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from gazevos.cli.options import (
    checkpoint_option,
    config_option,
    force_option,
    out_option,
    tracker_option,
)
from gazevos.errors import GazevosError
from gazevos.io import open_frames, prepare_output_dir, read_mask, write_mask
from gazevos.io.masks import object_ids
from gazevos.track import build_tracker


@click.command()
@click.argument("frames", type=click.Path())
@click.option("--mask", "mask_path", required=True, type=click.Path(),
              help="Palette (or 0/255) PNG with the objects on the first frame.")
@out_option("Folder for one palette PNG per frame.")
@tracker_option
@checkpoint_option
@config_option
@force_option
def propagate(frames: str, mask_path: str, out_dir: str, tracker: str, checkpoint: str | None,
              config: str | None, force: bool) -> None:
    """Propagate the objects of MASK through FRAMES (a video file or a folder of frames)."""
    source = open_frames(frames)
    mask = read_mask(mask_path)
    if mask.shape != (source.height, source.width):
        raise GazevosError(f"mask size {mask.shape[1]}x{mask.shape[0]} differs from frame size "
                           f"{source.width}x{source.height}", mask_path)
    if not object_ids(mask):
        raise GazevosError("mask holds no object (all background)", mask_path)
    trk = build_tracker(tracker, checkpoint=checkpoint, config=config)
    out = prepare_output_dir(out_dir, force=force)
    # Masks go to a hidden sibling folder first and are moved in only when every frame is
    # done, so a failure part-way (a corrupt frame, Ctrl-C) leaves nothing half-written.
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    start = time.perf_counter()
    n = 0
    try:
        for frame in tqdm(source, total=len(source) or None, desc="propagate", unit="frame"):
            pred = trk.step(frame.image, mask=mask if frame.index == 0 else None)
            labels = mask if frame.index == 0 else pred.labels
            write_mask(partial / f"{frame.name}.png", np.asarray(labels))
            n += 1
        for f in sorted(partial.iterdir()):
            f.replace(out / f.name)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    dt = time.perf_counter() - start
    click.echo(f"wrote {n} masks to {out} ({n / max(dt, 1e-9):.1f} frames/s)")
