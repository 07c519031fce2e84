"""Run a tracker over DAVIS sequences and write DAVIS-layout result masks.

Each sequence is tracked from its first annotation and written to
``OUT/<seq>/<frame>.png`` (palette PNGs).  The run follows the output contract of
:mod:`gazevos.io.rundir`: it works in a staging folder that replaces ``OUT`` when every
sequence is done.  Inside it a sequence's folder is written under a hidden temporary name
and renamed when complete, so a run interrupted and started again with ``resume=True``
skips the finished sequences; ``resume=True`` on a finished run of the same tracker and
settings keeps its sequences and runs only the ones it lacks.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from gazevos.errors import GazevosError
from gazevos.io.frames import FrameSource, open_frames
from gazevos.io.masks import read_mask, write_mask
from gazevos.io.rundir import link_tree, open_run, resume_hint
from gazevos.track.base import Tracker
from gazevos.track.resumable import tracker_identity

_PARTIAL = ".partial-"


@dataclass
class RunStats:
    """Timing of a run.

    Attributes:
        frames: frames tracked (skipped sequences excluded).
        seconds: wall time of the tracked sequences: frame reading, tracker steps and mask
            writing (end to end).
        step_seconds: time spent inside ``Tracker.step`` only.
        sequences: the sequences tracked in this run.
        skipped: sequences left as they were (already finished, ``resume``).
        per_sequence: ``{sequence: (frames, seconds)}``.
    """

    frames: int = 0
    seconds: float = 0.0
    step_seconds: float = 0.0
    sequences: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    per_sequence: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        """End-to-end frames per second (reading + tracking + writing)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def step_fps(self) -> float:
        """Frames per second of ``Tracker.step`` alone."""
        return self.frames / self.step_seconds if self.step_seconds > 0 else 0.0


def _first_mask_path(root: Path, sequence: str, source: FrameSource, resolution: str) -> Path:
    """``Annotations/<res>/<seq>/<first frame name>.png`` (must exist)."""
    path = root / "Annotations" / resolution / sequence / f"{source.names[0]}.png"
    if not path.is_file():
        raise GazevosError(f"no annotation for the first frame '{source.names[0]}'", path)
    return path


def check_sequence(root: str | os.PathLike[str], sequence: str,
                   resolution: str = "480p") -> tuple[FrameSource, Path]:
    """Check a sequence can be run: frames readable, first annotation present, same size,
    holding at least one object.  Returns the frame source and the first-mask path."""
    root = Path(root)
    source = open_frames(root / "JPEGImages" / resolution / sequence)
    mask_path = _first_mask_path(root, sequence, source, resolution)
    mask = read_mask(mask_path)
    if mask.shape != (source.height, source.width):
        raise GazevosError(f"mask size {mask.shape[1]}x{mask.shape[0]} differs from frame size "
                           f"{source.width}x{source.height}", mask_path)
    if not ((mask > 0) & (mask < 255)).any():
        raise GazevosError("first annotation holds no object (all background)", mask_path)
    return source, mask_path


def track_sequence(tracker: Tracker, source: FrameSource, first_mask: Path, out_dir: Path,
                   stats: RunStats | None = None,
                   bar: tqdm | None = None) -> tuple[int, float]:
    """Track one sequence from its first mask; write ``out_dir/<frame>.png`` per frame.

    Returns:
        ``(frames, step_seconds)``.
    """
    tracker.reset()
    mask = read_mask(first_mask)
    n, step_s = 0, 0.0
    for frame in source:
        t0 = time.perf_counter()
        pred = tracker.step(frame.image, mask=mask if frame.index == 0 else None)
        labels = pred.labels
        step_s += time.perf_counter() - t0
        write_mask(out_dir / f"{frame.name}.png", labels)
        n += 1
        if bar is not None:
            bar.update(1)
    if stats is not None:
        stats.step_seconds += step_s
    return n, step_s


def run_sequences(root: str | os.PathLike[str], sequences: Sequence[str],
                  tracker_factory: Callable[[], Tracker], out: str | os.PathLike[str],
                  resume: bool = False, force: bool = False, resolution: str = "480p",
                  progress: bool | None = None) -> RunStats:
    """Track every sequence and write DAVIS-layout results.

    Args:
        root: the DAVIS folder.
        sequences: sequence names.
        tracker_factory: builds the tracker (called once; ``reset()`` between sequences).
        out: results folder.
        resume: keep finished sequences (of an interrupted run, or of a finished run of
            the same tracker and settings in ``out``) and run only the missing ones.
        force: replace a finished run in ``out`` (all of it) when this one completes.
        resolution: image resolution folder.
        progress: show a progress bar (``None``: only on a terminal).

    Returns:
        :class:`RunStats` of the sequences run.

    Raises:
        GazevosError: a sequence cannot be run (checked for all before writing anything),
            or ``out`` is not empty and neither ``resume`` nor ``force`` is set.
    """
    root = Path(root)
    checked = {s: check_sequence(root, s, resolution) for s in sequences}
    tracker = tracker_factory()
    key = {"root": str(root.resolve()), "resolution": resolution,
           "tracker": tracker_identity(tracker)}
    run = open_run(out, "davis-run", key, force=force, resume=resume)
    stage = run.stage
    if (resume and not run.resumed and run.previous is not None
            and run.previous.get("command") == "davis-run" and run.previous.get("key") == key):
        for d in run.final.iterdir():  # the sequences of the run this one replaces
            if d.is_dir() and not d.name.startswith("."):
                link_tree(d, stage / d.name)
    stats = RunStats()
    todo = [s for s in sequences if not (stage / s).is_dir()]
    stats.skipped = [s for s in sequences if s not in todo]
    total = sum(len(checked[s][0]) for s in todo)
    try:
        with tqdm(total=total, unit="frame",
                  disable=None if progress is None else not progress,
                  dynamic_ncols=True) as bar:
            for seq in todo:
                source, mask_path = checked[seq]
                bar.set_description(seq)
                partial = stage / f"{_PARTIAL}{seq}"
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                t0 = time.perf_counter()
                n, _ = track_sequence(tracker, source, mask_path, partial, stats, bar)
                dt = time.perf_counter() - t0
                os.replace(partial, stage / seq)
                stats.frames += n
                stats.seconds += dt
                stats.sequences.append(seq)
                stats.per_sequence[seq] = (n, dt)
    except GazevosError:
        run.discard()
        raise
    except KeyboardInterrupt as exc:
        raise KeyboardInterrupt(resume_hint(run)) from exc
    run.commit()
    return stats

