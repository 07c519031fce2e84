"""What every gazevos trainer shares: run options, atomic checkpoint writes, resuming,
the per-invocation step / time budget, the progress bar and ``log.csv``.

A training folder holds ``last.pt`` (weights, optimiser, step, random generator states and
whatever the trainer needs to continue), ``model.pt`` (the inference checkpoint),
``log.csv`` and ``config.yaml``.  While training runs they live in the run's staging folder
(:mod:`gazevos.train.staging`); checkpoints are written atomically, and Ctrl-C / SIGTERM
writes ``last.pt`` at the current step before the process exits, so a run stopped at any
moment (Ctrl-C, ``--time-limit``, ``--chunk-steps``) resumes from where it stopped.

Devices: :func:`training_device` places a run (``--device``; each torchrun process on its
own GPU), :func:`backward` and :func:`step_optimizer` take the AMP gradient scaler of
:func:`gazevos.devices.grad_scaler` (a pass-through on the CPU).  Checkpoints hold CPU
weights (:func:`gazevos.models.checkpoint.weights_of`) and are read with
``map_location="cpu"``, so a run started on a GPU resumes on the CPU and the other way round.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
import torch.distributed as dist
import yaml
from tqdm import tqdm

from gazevos.config import config_to_dict
from gazevos.errors import GazevosError
from gazevos.io import atomic_write

LAST = "last.pt"


@dataclass
class RunOptions:
    """How one invocation runs (not hyper-parameters).

    Attributes:
        resume: continue the run staged for ``out`` (interrupted or stopped on its budget).
        resume_from: continue from this training checkpoint (weights, optimiser, step).
        init: start from these weights (fine-tuning; optimiser and step start fresh).
        force: replace a finished run in the output folder (when this one finishes).
        max_steps: stop after this many steps in this invocation (0: no limit).
        time_limit: stop after this many seconds (0: no limit).
        threads: threads per process for torch, OpenCV and BLAS (0: leave them as set).
        progress: show a progress bar (rank 0).
        note: shows a note to the user (None: the ``gazevos.train`` logger's warning).
        device: where the model trains: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``
            (:func:`gazevos.devices.resolve_device`); not part of the run's identity, so a
            run may resume on another device.
        amp: mixed precision on CUDA (None: on there; ignored on the CPU).
    """

    resume: bool = False
    resume_from: str | None = None
    init: str | None = None
    force: bool = False
    max_steps: int = 0
    time_limit: float = 0.0
    threads: int = 0
    progress: bool = True
    note: Callable[[str], None] | None = None
    device: str = "cpu"
    amp: bool | None = None


def save_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` through a temporary file: ``path`` is either the
    old file or the complete new one, never a partial write."""
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def join_process_group(opts: RunOptions) -> tuple[int, int]:
    """``(rank, world_size)`` from the torchrun environment (``(0, 1)`` without it); joins
    the gloo process group when there are several processes and applies ``opts.threads``
    (:func:`set_threads`)."""
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    set_threads(opts.threads)
    return rank, world


def training_device(opts: RunOptions, world: int = 1) -> tuple[torch.device, bool]:
    """``(device, amp)`` of this process: ``opts.device`` resolved; under torchrun with
    ``cuda`` (no index), each process takes the GPU of its ``LOCAL_RANK``.  The CUDA
    device is made current.

    Raises:
        GazevosError: an unknown device name or a GPU this machine lacks (one line).
    """
    from gazevos.devices import amp_enabled, resolve_device

    device = resolve_device(opts.device)
    if device.type == "cuda":
        if world > 1 and str(opts.device).strip().lower() in ("cuda", "auto"):
            device = resolve_device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
        torch.cuda.set_device(device)
    return device, amp_enabled(device, opts.amp)


def set_threads(threads: int) -> None:
    """Use ``threads`` threads in torch, OpenCV and the BLAS pools (0: leave them as the
    CLI's ``gazevos --threads`` / :func:`gazevos.runtime.configure_threads` set them).

    Raises:
        GazevosError: ``threads`` is negative or more than the machine can use (one line
            naming ``--threads``).
    """
    if threads:
        from gazevos.runtime import configure_threads, parse_threads

        configure_threads(parse_threads(threads, "--threads"))


def backward(opt: torch.optim.Optimizer, loss: torch.Tensor, step: int,
             scaler: torch.amp.GradScaler | None = None) -> None:
    """Gradients of ``loss`` (a scalar) for ``opt``'s parameters (no update yet); a
    non-finite loss is a one-line error.  With an enabled AMP ``scaler`` the gradients
    are of the scaled loss (:func:`step_optimizer` unscales them)."""
    if not torch.isfinite(loss):
        raise GazevosError(f"loss became {loss.item()} at step {step}; lower the "
                           "learning rate")
    opt.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
    else:
        loss.backward()


def step_optimizer(opt: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None = None) -> None:
    """``opt.step()``; with an enabled AMP ``scaler``: unscale, step (skipped when a
    gradient is inf/NaN) and update the scale."""
    if scaler is not None and scaler.is_enabled():
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()


def optimise(opt: torch.optim.Optimizer, loss: torch.Tensor, step: int) -> None:
    """One optimiser step on ``loss`` (a scalar); a non-finite loss is a one-line error.

    Trainers that save on interrupt call :func:`backward`, then ``opt.step()`` inside
    :func:`gazevos.train.staging.interrupts_deferred` with their step count."""
    backward(opt, loss, step)
    opt.step()


class Session:
    """One invocation's budget, progress bar and ``log.csv`` rows (see :func:`session`)."""

    def __init__(self, opts: RunOptions, step: int, bar: tqdm, log: IO[str] | None) -> None:
        self.opts, self.first, self.bar, self.log = opts, step, bar, log
        self.start = time.monotonic()

    def seconds(self) -> float:
        """Seconds since this invocation started."""
        return time.monotonic() - self.start

    def out_of_budget(self, step: int) -> bool:
        """True once this invocation has done ``max_steps`` steps or used ``time_limit``."""
        if self.opts.max_steps and step - self.first >= self.opts.max_steps:
            return True
        return bool(self.opts.time_limit and self.seconds() >= self.opts.time_limit)

    def record(self, step: int, fields: Sequence[str], **postfix: str) -> None:
        """Advance the bar by one step and append ``step,FIELDS...,seconds`` to the log."""
        self.bar.update(1)
        self.bar.set_postfix(**postfix)
        if self.log is not None:
            self.log.write(",".join([str(step), *fields, f"{self.seconds():.1f}"]) + "\n")
            self.log.flush()


@contextmanager
def session(out: Path, cfg: Any, opts: RunOptions, *, step: int, total: int, desc: str,
            columns: Sequence[str], resumed: bool, main: bool = True) -> Iterator[Session]:
    """Write ``config.yaml``, open the progress bar and ``log.csv``; close them at the end.

    Args:
        out: the run's folder.
        cfg: the hyper-parameter dataclass (written to ``config.yaml``).
        opts: budget and progress options.
        step: the step this invocation starts at.
        total: the run's total steps (bar length).
        desc: bar label.
        columns: log columns between ``step`` and ``seconds``.
        resumed: append to the log (a fresh run starts a fresh log).
        main: this process writes files and shows the bar (rank 0).
    """
    log = None
    if main:
        with atomic_write(out / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        if resumed:
            _drop_rows_after(out / "log.csv", step)
        log = open(out / "log.csv", "a" if resumed else "w")  # noqa: SIM115
    bar = tqdm(total=total, initial=step, desc=desc, unit="step",
               disable=not (opts.progress and main))
    try:
        if log is not None and log.tell() == 0:
            log.write(",".join(["step", *columns, "seconds"]) + "\n")
        yield Session(opts, step, bar, log)
    finally:
        bar.close()
        if log is not None:
            log.close()


def _drop_rows_after(path: Path, step: int) -> None:
    """Remove the rows of ``log.csv`` after ``step`` (steps logged after the checkpoint a
    run resumes from: they are done again)."""
    try:
        lines = path.read_text().splitlines(keepends=True)
    except OSError:
        return
    keep = lines[:1] + [ln for ln in lines[1:]
                        if ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) <= step]
    if len(keep) != len(lines):
        with atomic_write(path) as tmp:
            tmp.write_text("".join(keep))
