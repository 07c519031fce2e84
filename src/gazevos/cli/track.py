"""``gazevos propagate``: track a first-frame mask through a video or frame folder."""

from __future__ import annotations

import click
import numpy as np

from gazevos.cli.options import (
    checkpoint_option,
    config_option,
    device_options,
    force_option,
    out_option,
    tracker_option,
)
from gazevos.errors import GazevosError
from gazevos.io import open_frames, read_mask, write_mask
from gazevos.io.frames import Frame
from gazevos.io.masks import object_ids
from gazevos.track import build_tracker

STATE = ".track-state.pt"


@click.command()
@click.argument("frames", type=click.Path())
@click.option("--mask", "mask_path", required=True, type=click.Path(),
              help="Palette (or 0/255) PNG with the objects on the first frame.")
@out_option("Folder for one palette PNG per frame.")
@tracker_option
@checkpoint_option
@config_option
@force_option
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run into --out from its last saved state.")
@device_options
def propagate(frames: str, mask_path: str, out_dir: str, tracker: str, checkpoint: str | None,
              config: str | None, force: bool, resume: bool, device: str,
              amp: bool | None) -> None:
    """Propagate the objects of MASK through FRAMES (a video file or a folder of frames).

    The masks appear in --out only when every frame is done; an interrupted run is
    continued with --resume from its last saved state (on the device that state was on
    when this machine has it, else on the CPU).
    """
    from gazevos.devices import resolve_device
    from gazevos.io.rundir import fingerprint, run_folder
    from gazevos.track.resumable import track_pass, tracker_identity

    dev = resolve_device(device)  # before any reading: a missing GPU is one line
    source = open_frames(frames)
    mask = read_mask(mask_path)
    if mask.shape != (source.height, source.width):
        raise GazevosError(f"mask size {mask.shape[1]}x{mask.shape[0]} differs from frame size "
                           f"{source.width}x{source.height}", mask_path)
    if not object_ids(mask):
        raise GazevosError("mask holds no object (all background)", mask_path)
    from gazevos.gaze.prompts import check_video_size

    check_video_size((source.width, source.height), frames)
    trk = build_tracker(tracker, checkpoint=checkpoint, config=config, device=dev, amp=amp)
    expected = len(source)
    key = {"frames": fingerprint(frames), "mask": fingerprint(mask_path),
           "tracker": tracker_identity(trk)}
    with run_folder(out_dir, "propagate", key, force=force, resume=resume) as run:
        stage = run.stage

        def writer(frame: Frame, labels: np.ndarray) -> None:
            write_mask(stage / f"{frame.name}.png", mask if frame.index == 0 else labels)

        done = track_pass(source, trk, lambda f: (mask, None) if f.index == 0 else (None, None),
                          writer, state_path=stage / STATE, key=key, desc="propagate")
        if expected and done.frames < expected:
            raise GazevosError(f"the video ended after {done.frames} frames; its header says "
                               f"{expected} (a truncated or damaged file)", frames)
        (stage / STATE).unlink(missing_ok=True)
    speed = (done.frames - done.resumed_at) / max(done.seconds, 1e-9)
    click.echo(f"wrote {done.frames} masks to {run.final} ({speed:.1f} frames/s"
               + (f"; resumed at frame {done.resumed_at})" if done.resumed_at else ")"))
