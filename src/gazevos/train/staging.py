"""Training runs under the output contract (:mod:`gazevos.io.rundir`), and saving on
interrupt.

A training run writes ``last.pt``, ``model.pt``, ``log.csv`` and ``config.yaml`` into the
hidden staging folder beside ``--out`` (:func:`gazevos.io.rundir.staging_path`) and is
moved into ``--out`` only when training is finished (all steps, or early stopping).  So
``--out`` only ever holds a finished run:

- an invocation that stops on its budget (``--chunk-steps``, ``--time-limit``) or is
  interrupted (Ctrl-C, SIGTERM: ``last.pt`` is written at the current step first) keeps
  its stage; the same command with ``--resume`` continues it;
- ``--resume`` continues only a staged run of the same *key* (:func:`training_key`: the
  training settings except ``steps`` and ``save_every``, which do not change the
  trajectory, the fingerprints of the training data, the init / ``--resume-from`` weights
  and the number of processes); a staged run of other settings is refused with a one-line
  error naming the settings that differ;
- ``--resume`` with nothing staged starts from step 0 with a note (so a job script may
  always pass it), an interrupted run that saved nothing yet included; ``--resume`` on an
  ``--out`` that holds a finished run is an error ("nothing to resume"): train further
  with ``--resume-from OUT/last.pt --out NEW``;
- ``--force`` replaces a finished run in ``--out`` when the new one finishes (nothing of
  the old run survives); a run that fails on bad input leaves nothing.

Exact resume: ``last.pt`` holds the random generators' states at the step it was saved
at, and an interrupt is only acted on between optimiser updates
(:func:`interrupts_deferred`), so an interrupted and resumed single-process run ends with
the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from gazevos.config import config_to_dict
from gazevos.errors import GazevosError
from gazevos.io.rundir import (
    RunDir,
    check_output_path,
    normalise_key,
    open_run,
    read_manifest,
    staging_path,
)

LAST = "last.pt"
#: training settings left out of the run key: they do not change the weights at a given step
NOT_IN_KEY = ("steps", "save_every")

_log = logging.getLogger("gazevos.train")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C / SIGTERM after saving ``last.pt`` in its stage.

    Attributes:
        step: the step ``last.pt`` was saved at.
        total: the run's total steps.
        stage: the staging folder that holds the run (continue with ``--resume``).
        final: the output folder.
    """

    def __init__(self, step: int, total: int, stage: Path, final: Path,
                 saved: bool = True) -> None:
        what = (f"training stopped at step {step} of {total} and saved in {stage}" if saved
                else f"training stopped at once by a second interrupt; {stage} keeps the "
                     f"checkpoint of step {step}")
        super().__init__(f"{final}: {what}: run the same command with --resume to continue")
        self.step, self.total, self.stage, self.final = step, total, stage, final


class ForcedStop(KeyboardInterrupt):
    """A second Ctrl-C / SIGTERM while an update was being applied: stop without saving
    (the state in memory may be half updated; ``last.pt`` keeps the last checkpoint)."""


# ----------------------------------------------------------------------------- keys
def array_fingerprint(*arrays: np.ndarray | None) -> str:
    """sha256 of the shapes, dtypes and bytes of ``arrays`` (None: a marker)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none\0")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}\0".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def training_key(command: str, cfg: Any, data: dict[str, Any], *,
                 weights: dict[str, str | None] | None = None,
                 world_size: int = 1) -> dict[str, Any]:
    """What a training run's weights depend on (``--resume`` continues only an equal key).

    Args:
        command: ``train mast``, ``train ranet``, ``train semseg``, ``adapt semseg``.
        cfg: the training config dataclass (all fields but :data:`NOT_IN_KEY`).
        data: fingerprints of the training data (and any data settings).
        weights: fingerprints of the starting weights by role (``init``, ``resume_from``,
            ``init_encoder``; None when not given).
        world_size: number of processes (each draws its own batches).
    """
    settings = {k: v for k, v in config_to_dict(cfg).items() if k not in NOT_IN_KEY}
    return normalise_key({"command": command, "config": settings, "data": data,
                          "weights": weights or {}, "world_size": world_size})


def weight_fingerprints(**paths: str | Path | None) -> dict[str, str | None]:
    """``{role: fingerprint or None}`` of weight files (see :func:`training_key`)."""
    from gazevos.io.rundir import fingerprint

    return {k: None if p is None else fingerprint(p) for k, p in paths.items()}


def key_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of the settings that differ between two run keys (``config.loss``, ``data``)."""
    diff = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict) and k == "config":
            diff += [f"{k}.{n}" for n in key_difference(a, b)]
        else:
            diff.append(k)
    return diff


# ----------------------------------------------------------------------------- interrupts
@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then act on them.

    Only signals whose handler is a Python function (Python's own SIGINT handler, or the
    CLI's SIGTERM handler) are held: the block runs with a handler that records the
    signal, and the original handler is called with it after the block (raising
    ``KeyboardInterrupt`` there).  A second signal inside the block raises
    :class:`ForcedStop` at once.  Handlers are set back at once: nothing stays installed.
    A no-op outside the main thread (where signal handlers cannot be set).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[tuple[int, Any]] = []
    saved: dict[int, Callable[..., Any]] = {}

    def hold(signum: int, frame: Any) -> None:
        if pending:
            raise ForcedStop("stopped at once by a second interrupt")
        pending.append((signum, frame))

    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):
            saved[sig] = handler
            signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if pending:  # the block ended normally: act on the signal now
        sig, frame = pending[0]
        saved[sig](sig, frame)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The state of ``rng`` and of torch's CPU generator (restored by :func:`set_rng_state`)."""
    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put ``rng`` and torch's CPU generator back to a :func:`rng_state`."""
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])


# ----------------------------------------------------------------------------- runs
@dataclass
class TrainingRun:
    """One training invocation's place in the output contract (:func:`open_training_run`).

    Attributes:
        final: ``--out``.
        stage: where the run writes (all processes).
        resumed: the stage continues an interrupted run (its ``last.pt`` may be absent).
        run: the :class:`RunDir` (rank 0 only).
        note: shows a note to the user.
        notes: what the user should know (also sent to ``note`` by rank 0).
        main: this is rank 0.
    """

    final: Path
    stage: Path
    resumed: bool
    run: RunDir | None
    note: Callable[[str], None]
    notes: list[str] = field(default_factory=list)
    main: bool = True

    def tell(self, text: str) -> None:
        """Record a note and pass it on (rank 0 only)."""
        self.notes.append(text)
        if self.main:
            self.note(text)

    def resume_state(self, read: Callable[[Path], dict[str, Any]], resume_from: str | None,
                     hint: str = "; use --init"
                     ) -> tuple[dict[str, Any] | None, Path | None]:
        """The training checkpoint to continue from: the stage's ``last.pt`` when resumed,
        else ``resume_from``, else none (``(None, None)``).

        A fresh stage is discarded when this raises (bad input leaves nothing).

        Raises:
            GazevosError: the checkpoint has no optimiser state (an inference checkpoint).
        """
        try:
            return self._resume_state(read, resume_from, hint)
        except GazevosError:
            self.discard_fresh()
            raise

    def discard_fresh(self) -> None:
        """Remove the stage unless it continues an interrupted run (bad input found)."""
        if not self.resumed and self.run is not None:
            self.run.discard()

    def _resume_state(self, read: Callable[[Path], dict[str, Any]], resume_from: str | None,
                      hint: str) -> tuple[dict[str, Any] | None, Path | None]:
        path: Path | None = None
        if self.resumed and (self.stage / LAST).is_file():
            path = self.stage / LAST
        elif self.resumed:
            self.tell(f"{self.final}: the interrupted run saved no {LAST} yet: starting "
                      "from step 0")
        if path is None and resume_from is not None:
            path = Path(resume_from)
        if path is None:
            return None, None
        state = read(path)
        if "optimizer" not in state:
            raise GazevosError(f"not a training checkpoint (no optimiser state){hint}", path)
        return state, path

    def progress(self, step: int, total: int) -> None:
        """Record the step reached in the stage's manifest (rank 0)."""
        if self.run is not None:
            self.run.extra.update(step=step, steps=total)
            self.run.mark_started()

    def interrupted(self, exc: KeyboardInterrupt, checkpoint: Callable[[], None],
                    step: int, total: int) -> TrainingInterrupted:
        """What a trainer raises on Ctrl-C / SIGTERM: it first saves ``last.pt`` at ``step``
        with ``checkpoint`` (not after a :class:`ForcedStop`, whose state may be half
        updated; a third interrupt while saving leaves the last ``last.pt``, written
        atomically)."""
        if isinstance(exc, ForcedStop):
            staged = read_manifest(self.stage, complete_only=False) or {}
            last = int((staged.get("extra") or {}).get("step", 0))
            return TrainingInterrupted(last, total, self.stage, self.final, saved=False)
        checkpoint()
        return TrainingInterrupted(step, total, self.stage, self.final)

    def finish(self, done: bool) -> Path:
        """Move a finished run into place (rank 0); returns the folder holding the run
        now: ``final`` when ``done``, else the stage (kept for ``--resume``)."""
        if not done:
            return self.stage
        if self.run is not None:
            self.run.commit()
        return self.final


def _default_note(text: str) -> None:
    _log.warning(text)


def open_training_run(out: str | Path, key: dict[str, Any], *, force: bool, resume: bool,
                      rank: int = 0, world: int = 1,
                      note: Callable[[str], None] | None = None) -> TrainingRun:
    """Start or continue a training run writing ``out`` (see the module docstring).

    Rank 0 opens the run (the others wait for it, then learn whether it resumed).

    Raises:
        GazevosError: ``--resume`` on a finished run, on a staged run of other settings or
            on an old-style training folder; ``out`` not empty without ``--force``; ``out``
            unusable.
    """
    final = check_output_path(out)
    stage = staging_path(final)
    key = normalise_key(key)
    run: RunDir | None = None
    resumed = False
    trun = TrainingRun(final, stage, False, None, note or _default_note, main=rank == 0)
    if rank == 0:
        fresh = _check_resume(final, stage, key) if resume else None
        staged = read_manifest(stage, complete_only=False)
        run = open_run(final, str(key["command"]), key, force=force, resume=resume)
        resumed = run.resumed
        if fresh:
            trun.tell(fresh)
        step = ((staged or {}).get("extra") or {}).get("step")
        if not resumed and step and staged.get("complete") is False:  # type: ignore[union-attr]
            trun.tell(f"{final}: starting over: the unfinished run staged beside it (at "
                      f"step {step}) was discarded (--resume continues such a run)")
    if world > 1:
        flag = torch.tensor([int(resumed)])
        dist.broadcast(flag, src=0)  # after rank 0 has opened (or refused) the run
        resumed = bool(flag.item())
    trun.resumed, trun.run = resumed, run
    return trun


def _check_resume(final: Path, stage: Path, key: dict[str, Any]) -> str | None:
    """Refuse a ``--resume`` that cannot continue the staged run; the note to show when
    there is nothing to resume (None when the staged run continues)."""
    staged = read_manifest(stage, complete_only=False)
    if staged is not None and staged.get("complete") is False:
        if staged.get("command") != key["command"]:
            raise GazevosError(f"the interrupted run staged for this folder is a "
                               f"'{staged.get('command')}' run, not '{key['command']}'; "
                               "drop --resume to start over", final)
        if staged.get("key") != key:
            diff = ", ".join(key_difference(staged.get("key") or {}, key)) or "settings"
            step = (staged.get("extra") or {}).get("step")
            at = f" (at step {step})" if step is not None else ""
            raise GazevosError(f"cannot resume: the interrupted run{at} was started with "
                               f"other {diff}; resume with the same settings and data, or "
                               "drop --resume to start over", final)
        return None
    finished = read_manifest(final)
    if finished is not None:
        raise GazevosError("nothing to resume: this is a finished run; to train it further "
                           f"use --resume-from {final / LAST} --steps N --out NEW_FOLDER",
                           final)
    if (final / LAST).is_file() and read_manifest(final, complete_only=False) is None:
        raise GazevosError("holds a training run of an older gazevos (no manifest.json): "
                           f"continue it with --resume-from {final / LAST} --out NEW_FOLDER",
                           final)
    return f"{final}: nothing to resume: starting from step 0"


def staged_progress(out: str | Path) -> tuple[int | None, int | None, Path]:
    """``(step, total, stage)`` of the run staged for ``out`` (None when unknown)."""
    stage = staging_path(Path(out))
    extra = (read_manifest(stage, complete_only=False) or {}).get("extra") or {}
    step, total = extra.get("step"), extra.get("steps")
    return (None if step is None else int(step), None if total is None else int(total), stage)


def find_run(out: str | Path) -> Path | None:
    """Where the latest state of the training run for ``out`` lives: ``out`` when it holds
    a finished run, else its stage when one holds ``last.pt``, else ``out`` when it has a
    ``last.pt`` of an older gazevos; None when there is none (for scripts that chunk runs)."""
    final = Path(out)
    stage = staging_path(final)
    if read_manifest(final) is not None:
        return final
    if read_manifest(stage, complete_only=False) is not None and (stage / LAST).is_file():
        return stage
    return final if (final / LAST).is_file() else None


def data_fingerprints(paths: Sequence[str | Path]) -> list[str]:
    """:func:`gazevos.io.rundir.fingerprint` of each path, in order."""
    from gazevos.io.rundir import fingerprint

    return [fingerprint(p) for p in paths]
