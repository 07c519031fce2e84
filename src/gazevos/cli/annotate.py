"""``gazevos annotate`` and ``gazevos demo``: the whole job on a recording, or on a sample."""

from __future__ import annotations

import click
import pandas as pd

from gazevos.cli.options import (
    checkpoint_option,
    config_option,
    device_options,
    finite_float,
    force_option,
    out_option,
    tracker_option,
)
from gazevos.errors import GazevosError
from gazevos.gaze.annotate import CORRECTIONS, AnnotateConfig, AnnotateResult
from gazevos.gaze.fixations import METHODS

_defaults = AnnotateConfig()

tolerance_option = click.option(
    "--tolerance-deg", type=finite_float(min=0.0, max=45.0), default=_defaults.tolerance_deg,
    show_default=True, help="A sample within this visual angle of an object counts as on it.")
fixations_option = click.option(
    "--fixations", type=click.Choice(METHODS), default=_defaults.fixations, show_default=True,
    help="Fixation detector ('device': the export's own fixations).")
correction_option = click.option(
    "--correct-calibration", type=click.Choice(CORRECTIONS), default="none",
    show_default=True,
    help="Fit a gaze correction (offset, or offset and scale) that moves the fixations onto "
         "the tracked objects, and apply it.")
min_confidence_option = click.option(
    "--min-confidence", type=finite_float(0.0, 1.0), default=_defaults.min_confidence,
    show_default=True, help="Samples with a lower device confidence are flagged, not used.")
no_video_option = click.option("--no-video", is_flag=True, help="Do not write overlay.mp4.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bars.")


def _print_result(result: AnnotateResult) -> None:
    """The few lines a user wants after a run."""
    m = result.metrics
    table = pd.DataFrame({
        "object": m["object"],
        "dwell s": m["dwell_time"].round(3),
        "visits": m["n_visits"],
        "fixations": m["n_fixations"],
        "first fixation s": m["time_to_first_fixation"].round(3)})
    click.echo(table.to_string(index=False))
    if result.correction is not None:
        from gazevos.report.annotation import correction_text

        click.echo(f"calibration correction: {correction_text(result.correction)}")
    from gazevos.report.annotation import split_warnings

    for note in split_warnings(result.notes)[1]:  # warnings went to stderr already
        click.echo(f"note: {note}")
    speed = "masks reused" if result.tracking_resumed else f"{result.track_fps:.1f} frames/s"
    click.echo(f"tracked {result.n_frames} frames ({speed}); total {result.total_seconds:.1f} s")
    click.echo(f"report: {result.out_dir / 'report.html'}")


@click.command(short_help="Track marked objects, map gaze onto them; tables, overlay, report.")
@click.argument("recording", type=click.Path(), required=False)
@click.option("--project", "project_dir", type=click.Path(file_okay=False), default=None,
              help="Reproduce a `gazevos studio` project headless: track every frame again "
                   "from its keyframes and write its export to --out (no RECORDING needed).")
@click.option("--objects", "objects", metavar="MASK.png@FRAME", default=None,
              help="Palette PNG with the objects (ids 1..254) on frame FRAME (default 0).")
@click.option("--names", default=None, metavar="ID=NAME,...",
              help="Names of the --objects ids, e.g. '1=bleach,2=naruto'.")
@click.option("--box", "boxes", multiple=True, metavar="NAME:X0,Y0,X1,Y1@FRAME",
              help="An object inside a box (pixels) on a frame; cut out by GrabCut. "
                   "Repeatable.")
@click.option("--point", "points", multiple=True, metavar="NAME:X,Y@FRAME",
              help="An object under a point on a frame; grown by colour region growing and "
                   "GrabCut (best for one-coloured objects). Repeatable.")
@out_option("Output folder (masks, tables, overlay.mp4, report.html).")
@click.option("--format", "recording_format", default=None,
              help="Recording format (default: detected).")
@tracker_option
@checkpoint_option
@config_option
@tolerance_option
@fixations_option
@correction_option
@min_confidence_option
@no_video_option
@click.option("--video-width", type=click.IntRange(min=0),
              default=_defaults.video_width, show_default=True,
              help="Draw the overlay video at most this many pixels wide (0: the scene "
                   "video's size; larger costs more time).")
@click.option("--track-rate", type=finite_float(min=0.0, max=1000.0),
              default=_defaults.track_rate, show_default=True,
              help="0: track every frame. Otherwise track only every k-th frame so that at "
                   "least this many frames per second of video are tracked; the frames in "
                   "between take the nearer tracked frame's masks (faster, less accurate).")
@force_option
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run into --out from its last saved tracking "
                   "state; or reuse the masks of a finished run with the same recording, "
                   "objects and tracker and redo the rest (e.g. other gaze settings).")
@quiet_option
@device_options
def annotate(recording: str | None, objects: str | None, names: str | None,
             boxes: tuple[str, ...], points: tuple[str, ...], out_dir: str,
             recording_format: str | None, tracker: str,
             checkpoint: str | None, config: str | None, tolerance_deg: float, fixations: str,
             correct_calibration: str, min_confidence: float, no_video: bool,
             video_width: int, track_rate: float, force: bool,
             resume: bool, quiet: bool, project_dir: str | None = None, device: str = "cpu",
             amp: bool | None = None) -> None:
    """Which object did the wearer look at? Track the objects given on some frames of
    RECORDING's scene video, map gaze and fixations onto them, and write masks, tables,
    metrics, an overlay video and an HTML report to --out.

    Example: gazevos annotate rec/ --box "cup:100,80,220,240@0" --point "ball:400,300@50"
    --out results/
    """
    from gazevos.devices import resolve_device
    from gazevos.gaze.annotate import annotate as run
    from gazevos.gaze.prompts import build_prompts
    from gazevos.track import build_tracker

    dev = resolve_device(device)  # before any reading: a missing GPU is one line
    if project_dir is not None:
        from gazevos.studio.export import export_project

        _print_result(export_project(project_dir, out_dir, force=force, progress=not quiet))
        return
    if recording is None:
        raise GazevosError("give a RECORDING (or --project DIR of a studio project)")
    prompts = build_prompts(objects, names, boxes, points)
    cfg = AnnotateConfig(tolerance_deg=tolerance_deg, fixations=fixations,
                         correct_calibration=correct_calibration,
                         min_confidence=min_confidence, video=not no_video,
                         video_width=video_width, track_rate=track_rate)
    trk = build_tracker(tracker, checkpoint=checkpoint, config=config, device=dev, amp=amp)
    result = run(recording, prompts, out_dir, tracker=trk, config=cfg, force=force,
                 resume=resume, progress=not quiet, recording_format=recording_format)
    _print_result(result)


@click.command(short_help="The whole job on a generated sample recording (no data needed).")
@click.option("--out", "out_dir", default="demo-output", show_default=True,
              type=click.Path(file_okay=False),
              help="Output folder; the generated recording goes to OUT/sample.")
@click.option("--resolution", default="640x360", show_default=True, metavar="WxH",
              help="Size of the generated scene video.")
@click.option("--seconds", type=finite_float(min=1.0, max=600.0), default=6.0,
              show_default=True, help="Length of the generated recording.")
@tracker_option
@correction_option
@no_video_option
@force_option
@quiet_option
def demo(out_dir: str, resolution: str, seconds: float, tracker: str, correct_calibration: str,
         no_video: bool, force: bool, quiet: bool) -> None:
    """Run the whole job on a small synthetic recording that gazevos makes itself: a 6-s
    scene video with three moving objects (a mug and a book marked by boxes on frame 0, a
    ball that rolls in later, marked by a point) and a gaze track that looks at them in turn.
    """
    from gazevos.gaze.annotate import annotate_in, prepare_annotation
    from gazevos.gaze.demo import demo_report, make_demo_sample, parse_resolution
    from gazevos.gaze.prompts import build_prompts
    from gazevos.io.rundir import run_folder

    w, h = parse_resolution(resolution)
    cfg = AnnotateConfig(correct_calibration=correct_calibration, video=not no_video)
    key = {"resolution": [int(w), int(h)], "seconds": seconds, "tracker": tracker,
           "settings": cfg.__dict__}
    with run_folder(out_dir, "demo", key, force=force, resumable=False) as run:
        final = run.final
        if not quiet:
            click.echo(f"writing a synthetic recording to {final / 'sample'} ...")
        sample = make_demo_sample(run.stage / "sample", width=int(w), height=int(h),
                                  duration=seconds)
        prompts = build_prompts(boxes=sample.boxes, points=sample.points)
        job = prepare_annotation(sample.root, prompts, tracker, cfg)
        result = annotate_in(run, job, progress=not quiet)
        check = demo_report(sample, result.metrics, run.stage / "masks")
    result.out_dir = final
    _print_result(result)
    args = " ".join([*(f'--box "{b}"' for b in sample.boxes),
                     *(f'--point "{p}"' for p in sample.points)])
    click.echo(f"the same job by hand: gazevos annotate {final / 'sample'} {args} "
               f"--out annotate-output")
    click.echo("against what the sample is known to hold (true masks, scripted gaze):")
    click.echo(check.round(3).to_string(index=False))
