"""``gazevos davis run`` and ``gazevos davis eval``: DAVIS-layout inference and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gazevos.cli.options import (
    checkpoint_option,
    config_option,
    device_options,
    out_option,
    stack,
    tracker_option,
)
from gazevos.errors import GazevosError

#: --sequences-file, --sequences and the names after them (read with _sequences)
sequence_options = stack(
    click.option("--sequences-file", type=click.Path(dir_okay=False), default=None,
                 help="Text file with one sequence name per line."),
    click.option("--sequences", "sequences", multiple=True,
                 help="Sequences to use (space-separated names after the flag, e.g. "
                      "'--sequences bear dog'; default: ImageSets/dev.txt, else every "
                      "sequence)."),
    click.argument("more_sequences", nargs=-1, metavar=""))


def _sequences(option: tuple[str, ...], extra: tuple[str, ...]) -> list[str] | None:
    """Names from ``--sequences a --sequences b,c`` and names that follow ``--sequences``."""
    if extra and not option:
        raise GazevosError(f"unexpected argument '{extra[0]}' (sequence names go after "
                           "--sequences)")
    names = [n for v in (*option, *extra) for n in v.replace(",", " ").split()]
    return names or None


@click.group()
def davis() -> None:
    """Run trackers on DAVIS sequences and score results with the official protocol."""


@davis.command("run")
@click.option("--root", required=True, type=click.Path(file_okay=False),
              help="DAVIS folder (JPEGImages/480p, Annotations/480p, ImageSets).")
@sequence_options
@tracker_option
@out_option("Results folder: OUT/<seq>/<frame>.png palette masks.")
@checkpoint_option
@config_option
@click.option("--force", is_flag=True, help="Write into a non-empty folder, redoing every "
              "sequence.")
@click.option("--resume", is_flag=True, help="Keep finished sequences of a non-empty folder "
              "and run the others.")
@click.option("--resolution", default="480p", show_default=True,
              help="Resolution folder of JPEGImages/Annotations.")
@device_options
def run(root: str, sequences_file: str | None, sequences: tuple[str, ...],
        more_sequences: tuple[str, ...], tracker: str, out_dir: str, checkpoint: str | None,
        config: str | None, force: bool, resume: bool, resolution: str, device: str,
        amp: bool | None) -> None:
    """Track each sequence from its first annotation; write DAVIS-layout result masks."""
    from gazevos.devices import resolve_device
    from gazevos.eval.davis import resolve_sequences
    from gazevos.eval.runner import run_sequences
    from gazevos.track import build_tracker

    if force and resume:
        raise GazevosError("--force and --resume exclude each other")
    dev = resolve_device(device)
    names = resolve_sequences(root, _sequences(sequences, more_sequences), sequences_file,
                              resolution)
    stats = run_sequences(
        root, names, lambda: build_tracker(tracker, checkpoint=checkpoint, config=config,
                                         device=dev, amp=amp),
        out_dir, resume=resume, force=force, resolution=resolution)
    if stats.skipped:
        click.echo(f"skipped {len(stats.skipped)} finished sequence(s)")
    click.echo(f"tracked {len(stats.sequences)} sequence(s), {stats.frames} frames into "
               f"{out_dir}")
    if stats.frames:
        click.echo(f"{stats.fps:.1f} frames/s end to end (reading, tracking, writing); "
                   f"{stats.step_fps:.1f} frames/s tracker step alone")


@davis.command("eval")
@click.option("--root", required=True, type=click.Path(file_okay=False),
              help="DAVIS folder with the ground-truth Annotations.")
@click.option("--results", required=True, type=click.Path(file_okay=False),
              help="Results folder (<seq>/<frame>.png).")
@sequence_options
@click.option("--force", is_flag=True, help="Overwrite existing result tables.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes scoring sequences in parallel (default: CPU count).")
@click.option("--resolution", default="480p", show_default=True,
              help="Resolution folder of Annotations.")
def eval_(root: str, results: str, sequences_file: str | None, sequences: tuple[str, ...],
          more_sequences: tuple[str, ...], force: bool, workers: int | None,
          resolution: str) -> None:
    """Score RESULTS with the DAVIS semi-supervised protocol (J, F, J&F).

    Writes global_results.csv and per-sequence_results.csv into the results folder; the
    last line printed is a JSON object with J_mean, J_recall, J_decay, F_mean, F_recall,
    F_decay and JF_mean (fractions 0-1).
    """
    from gazevos.eval.davis import GLOBAL_CSV, PER_SEQUENCE_CSV, evaluate_results, write_tables

    folder = Path(results)
    if not force:
        for name in (GLOBAL_CSV, PER_SEQUENCE_CSV):
            if (folder / name).exists():
                raise GazevosError("evaluation table exists; pass --force to overwrite it",
                                   folder / name)
    scores = evaluate_results(root, results, _sequences(sequences, more_sequences),
                              sequences_file, resolution=resolution, workers=workers)
    write_tables(scores, folder, force=force)
    click.echo(scores.per_object.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo("")
    click.echo(scores.global_table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo(json.dumps(scores.summary()))

