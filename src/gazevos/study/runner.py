"""``gazevos study``: every recording of a study as one task on Dask distributed.

:func:`run_study` loads the study file, hashes each recording's inputs and settings
(:func:`gazevos.study.tasks.task_key`), skips the recordings whose outputs are complete and
made by the same hash, and runs the others as tasks (:func:`gazevos.study.tasks.run_task`):

* on a ``distributed.LocalCluster`` by default: one worker process per core (``workers``),
  one thread each, and torch/OpenCV set to one thread in the task;
* on an existing cluster with ``scheduler="tcp://HOST:PORT"`` (e.g. one started by
  dask-jobqueue on SLURM: docs/study.md);
* in this process, one after the other, with ``serial=True`` (no Dask).

One recording's error is reported (recording id, one line) and the others go on.  A worker
lost mid-task (killed, out of memory) makes the scheduler rerun its task on another worker
(distributed's ``allowed-failures``, 3 by default); as each task stages its folders and
moves them into place complete, a half-written recording is never taken as done.

Then :mod:`gazevos.study.group` merges the tables, computes the group tables and the
study-level validation, and :mod:`gazevos.study.report` writes ``report.html``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from gazevos.errors import GazevosError
from gazevos.study.schema import Study, load_study
from gazevos.study.tasks import TaskSpec, run_task, task_done, task_hash, task_key


@dataclass
class StudyResult:
    """What :func:`run_study` did.

    Attributes:
        out: the output folder.
        report: the study report.
        status: recording id -> ``done``, ``skipped`` or ``failed``.
        errors: recording id -> one-line error.
        seconds: wall time of the whole run.
        task_seconds: recording id -> wall time measured inside its task.
        run_seconds: wall time of the task phase alone (cluster start included).
        dashboard: the Dask dashboard address ('' when none).
    """

    out: Path
    report: Path
    status: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    task_seconds: dict[str, float] = field(default_factory=dict)
    run_seconds: float = 0.0
    dashboard: str = ""

    @property
    def n_done(self) -> int:
        """Recordings annotated by this run."""
        return sum(s == "done" for s in self.status.values())

    @property
    def n_skipped(self) -> int:
        """Recordings skipped as unchanged."""
        return sum(s == "skipped" for s in self.status.values())


def error_line(exc: BaseException) -> str:
    """One line for a task's error."""
    if isinstance(exc, GazevosError):
        return str(exc)
    msg = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {msg}" if msg else exc.__class__.__name__


def _cores() -> int:
    """Cores this process may use (its CPU affinity where the OS has one)."""
    try:
        from gazevos.runtime import available_cores
    except ImportError:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            (os.cpu_count() or 1)
    return available_cores()


def _make_client(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    """A distributed client: to ``scheduler``, or to a new LocalCluster (returned to close)."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            raise GazevosError(f"cannot reach the Dask scheduler {scheduler} "
                               f"({error_line(exc)})") from None
    n = workers or _cores()
    import importlib.util

    dashboard = ":0" if importlib.util.find_spec("bokeh") is not None else None
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=dashboard, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _run_distributed(specs: list[TaskSpec], client: Any, result: StudyResult,
                     progress: bool) -> None:
    from distributed import as_completed

    futures = {client.submit(run_task, s, key=f"study-{s.recording.id}-{s.hash[:12]}",
                             pure=False, retries=0): s for s in specs}
    bar = tqdm(total=len(futures), desc="recordings", unit="rec", disable=not progress)
    for fut in as_completed(futures):
        rid = futures[fut].recording.id
        try:
            out = fut.result()
        except Exception as exc:  # noqa: BLE001 - one recording's failure: report, go on
            result.status[rid], result.errors[rid] = "failed", error_line(exc)
        else:
            result.status[rid] = "done"
            result.task_seconds[rid] = float(out["seconds"])
        bar.update(1)
    bar.close()


def _run_serial(specs: list[TaskSpec], result: StudyResult, progress: bool) -> None:
    for spec in tqdm(specs, desc="recordings", unit="rec", disable=not progress):
        rid = spec.recording.id
        try:
            out = run_task(spec)
        except Exception as exc:  # noqa: BLE001 - one recording's failure: report, go on
            result.status[rid], result.errors[rid] = "failed", error_line(exc)
        else:
            result.status[rid] = "done"
            result.task_seconds[rid] = float(out["seconds"])


def plan(study: Study, force: bool = False) -> tuple[list[TaskSpec], list[str]]:
    """The tasks to run and the ids of the recordings to skip (unchanged and complete)."""
    run, skip = [], []
    for rec in study.recordings:
        key = task_key(rec, study.settings)
        spec = TaskSpec(rec, study.settings, study.out, key, task_hash(key), resume=not force)
        if not force and task_done(study.out, rec.id, spec.hash):
            skip.append(rec.id)
        else:
            run.append(spec)
    return run, skip


def run_study(study_file: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None,
              scheduler: str | None = None, workers: int | None = None, serial: bool = False,
              force: bool = False, progress: bool = True, client: Any = None,
              echo: Callable[[str], Any] | None = None) -> StudyResult:
    """Run a study (module docstring) and write its group tables and report.

    Args:
        study_file: the study YAML (:mod:`gazevos.study.schema`).
        out_dir: output folder (None: the study file's ``out``).
        scheduler: ``tcp://HOST:PORT`` of a running Dask scheduler.
        workers: worker processes of the local cluster (None: one per core).
        serial: run in this process, one recording after the other.
        force: rerun every recording.
        progress: show the progress bar.
        client: an existing ``distributed.Client`` to use (not closed here).
        echo: where to print the dashboard address and notes (None: nowhere).

    Raises:
        GazevosError: bad study file, unreachable scheduler, unwritable output folder.
    """
    from gazevos.study.group import write_study_outputs

    t0 = time.perf_counter()
    say = echo or (lambda _msg: None)
    study = load_study(study_file, out_dir)
    out = study.out
    if out.exists() and not out.is_dir():
        raise GazevosError("output path exists and is not a folder", out)
    out.mkdir(parents=True, exist_ok=True)
    specs, skipped = plan(study, force)
    result = StudyResult(out, out / "report.html")
    result.status.update({rid: "skipped" for rid in skipped})
    if skipped:
        say(f"{len(skipped)} of {len(study.recordings)} recordings unchanged and complete: "
            "skipped")
    t_run = time.perf_counter()
    if specs and serial:
        _run_serial([dataclasses.replace(s, threads=None) for s in specs], result, progress)
    elif specs:
        own, cluster = (client, None) if client is not None else _make_client(scheduler, workers)
        try:
            info = own.scheduler_info()
            if "dashboard" in info.get("services", {}):
                result.dashboard = str(own.dashboard_link)
            say(f"Dask: {len(info.get('workers', {}))} workers; dashboard: "
                f"{result.dashboard or 'none (pip install bokeh for one)'}")
            _run_distributed(specs, own, result, progress)
        finally:
            if client is None:
                own.close()
                if cluster is not None:
                    cluster.close()
    result.run_seconds = time.perf_counter() - t_run
    for rid in [r.id for r in study.recordings if r.id not in result.status]:
        result.status[rid] = "failed"
    write_study_outputs(study, result)
    result.seconds = time.perf_counter() - t0
    _write_json(out / "study.json", {
        "study": str(study.path), "name": study.name, "settings": asdict(study.settings),
        "status": result.status, "errors": result.errors, "task_seconds": result.task_seconds,
        "run_seconds": result.run_seconds, "seconds": result.seconds})
    return result


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from gazevos.io.atomic import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))
