"""``gazevos segment``: label a frame (or every frame) with a segmentation model and turn
the first frame's classes into tracker objects (thesis section 3.3)."""

from __future__ import annotations

import csv
from pathlib import Path

import click
import numpy as np
from PIL import Image

from gazevos.cli.options import (
    device_options,
    finite_float,
    force_option,
    out_option,
    semseg_model_options,
)
from gazevos.errors import GazevosError
from gazevos.io import atomic_write, open_frames, write_mask
from gazevos.io.frames import IMAGE_SUFFIXES, Frame, read_image
from gazevos.io.rundir import fingerprint, run_folder


def write_label_png(path: Path, labels: np.ndarray, palette: np.ndarray) -> None:
    """Write an ``(H, W)`` class map as a palette PNG with the model's class colours."""
    from gazevos.models.semseg.classes import full_palette

    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(full_palette(palette).reshape(-1).tolist())
    with atomic_write(path) as tmp:
        im.save(tmp, format="PNG")


def _frames(path: str) -> tuple[object, int]:
    p = Path(path)
    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
        return [Frame(0, read_image(p), 0.0, p.stem)], 1
    src = open_frames(p)
    return src, len(src)


@click.command()
@click.argument("frames", type=click.Path())
@semseg_model_options("Segmentation model")
@out_option("Output folder: labels/NAME.png, objects.png, objects.csv.")
@click.option("--all", "all_frames", is_flag=True,
              help="Label every frame (default: the first frame only).")
@click.option("--scale", type=finite_float(min=0.0, min_open=True, max=8.0), default=1.0,
              show_default=True,
              help="Resize frames by this factor before the network.")
@click.option("--objects", "mode", type=click.Choice(["classes", "components", "none"]),
              default="classes", show_default=True,
              help="Tracker objects from the first frame: one per class present, one per "
                   "connected component, or none.")
@click.option("--min-pixels", type=click.IntRange(min=0), default=0, show_default=True,
              help="Drop objects smaller than this many pixels.")
@click.option("--skip-class", "skip", multiple=True,
              help="Class name that never becomes an object (repeatable; default: "
                   "'background' when the model has such a class).")
@force_option
@device_options
def segment(frames: str, checkpoint: str, arch: str | None, out_dir: str, all_frames: bool,
            scale: float, mode: str, min_pixels: int, skip: tuple[str, ...],
            force: bool, device: str = "cpu", amp: bool | None = None) -> None:
    """Segment FRAMES (an image, a video or a frame folder).  objects.png (DAVIS palette)
    is a first-frame mask for 'gazevos propagate FRAMES --mask OUT/objects.png'."""
    from gazevos.devices import OnDevice, amp_enabled, resolve_device
    from gazevos.models.semseg.checkpoint import load_model
    from gazevos.models.semseg.infer import labels_to_objects, predict_probs

    dev = resolve_device(device)  # before any reading: a missing GPU is one line
    if scale <= 0:
        raise GazevosError(f"--scale must be positive, got {scale}")
    if min_pixels < 0:
        raise GazevosError(f"--min-pixels must be >= 0, got {min_pixels}")
    model = load_model(checkpoint, arch)
    # on a GPU: inputs moved there, float32 probabilities back on the CPU
    net = model if dev.type == "cpu" else OnDevice(model, dev, amp_enabled(dev, amp))
    classes = tuple(model.classes)
    unknown = [s for s in skip if s not in classes]
    if unknown:
        raise GazevosError(f"unknown classes {unknown} (model classes: {', '.join(classes)})")
    skip_ids = tuple(classes.index(s) for s in (skip or [c for c in classes
                                                          if c == "background"]))
    source, count = _frames(frames)
    key = {"frames": fingerprint(frames), "checkpoint": fingerprint(checkpoint), "arch": arch,
           "all": all_frames, "scale": scale, "mode": mode, "min_pixels": min_pixels,
           "skip": list(skip)}
    with run_folder(out_dir, "segment", key, force=force, resumable=False) as run:
        out = run.stage
        (out / "labels").mkdir(exist_ok=True)
        n = 0
        for frame in source:  # type: ignore[attr-defined]
            labels = predict_probs(net, frame.image, scale).argmax(0).astype(np.uint8)
            write_label_png(out / "labels" / f"{frame.name}.png", labels, model.palette)
            if frame.index == 0 and mode != "none":
                objs_map, objs = labels_to_objects(labels, classes, mode, min_pixels, skip_ids)
                write_mask(out / "objects.png", objs_map)
                with atomic_write(out / "objects.csv") as tmp, open(tmp, "w", newline="") as fh:
                    w = csv.writer(fh)
                    w.writerow(["object_id", "class_id", "class", "pixels"])
                    for o in objs:
                        w.writerow([o.object_id, o.class_id, o.class_name, o.pixels])
                click.echo(f"{len(objs)} objects on frame {frame.name}: "
                           + ", ".join(f"{o.object_id}={o.class_name}" for o in objs))
            n += 1
            if not all_frames:
                break
    click.echo(f"wrote {n} label maps to {run.final / 'labels'}"
               + (" and objects.png / objects.csv" if mode != "none" else ""))
