"""The output contract of every command that writes a folder.

A run never writes into its output folder.  It writes into a hidden *staging* folder beside
it (same parent, so the final move is a rename on one file system) and moves it into place
only when everything is written, after ``manifest.json``.  So an output folder is always a
whole earlier run or a whole new one, never a mix:

- ``--force`` replaces the whole previous run (the old folder is renamed aside, the new one
  renamed in, the old one deleted): nothing stale survives;
- a run that fails on bad input removes its staging folder; a run that is interrupted
  (Ctrl-C, SIGTERM, a crash) keeps it, with a manifest saying ``"complete": false`` and the
  run's *key* (command, settings, input fingerprints), so that ``--resume`` can continue it
  when the key matches.  A later run of any other key discards it: a failed or interrupted
  run never blocks rerunning the command.

The manifest (``manifest.json``)::

    {"format": 1, "command": "annotate", "complete": true, "key": {...},
     "extra": {...}, "gazevos": "0.1.0", "started": "...", "finished": "...",
     "files": ["masks/", "metrics.csv", ...]}

Only a manifest with ``"complete": true`` marks a finished run (:func:`read_manifest`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gazevos.errors import GazevosError
from gazevos.io.atomic import atomic_write

MANIFEST = "manifest.json"
FORMAT = 1
#: bytes read from each end of a large file by :func:`fingerprint`
_FP_CHUNK = 4 << 20


# ----------------------------------------------------------------------------- manifests
def read_manifest(folder: str | os.PathLike[str], complete_only: bool = True
                  ) -> dict[str, Any] | None:
    """The manifest of a run folder, or None when it is absent, unreadable or (with
    ``complete_only``) not marked complete."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    if complete_only and data.get("complete") is not True:
        return None
    return data


def _write_manifest(folder: Path, data: dict[str, Any]) -> None:
    with atomic_write(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))


def normalise_key(key: dict[str, Any]) -> dict[str, Any]:
    """``key`` as it reads back from JSON (tuples become lists, paths strings), so that a
    key computed now compares equal to one read from a manifest."""
    return json.loads(json.dumps(key, default=str, sort_keys=True))


# ----------------------------------------------------------------------------- fingerprints
def fingerprint(path: str | os.PathLike[str]) -> str:
    """A content fingerprint of a file or folder (hex sha256).

    A file is hashed whole up to 16 MiB; a larger one by its size and its first and last
    4 MiB (a re-encoded or truncated video changes both ends; this keeps hashing a
    one-hour video under a second).  A folder hashes its files' relative paths, sizes and
    contents (each file whole up to 256 KiB, else its first and last 64 KiB), in sorted
    order, skipping hidden names.
    """
    path = Path(path)
    if not path.is_dir():
        return _file_digest(path, _FP_CHUNK)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(str(rel).encode("utf-8", "surrogateescape") + b"\0")
        h.update(_file_digest(f, 64 << 10).encode())
    return h.hexdigest()


def _file_digest(path: Path, chunk: int) -> str:
    """sha256 of a file's size and content: whole up to ``4 * chunk`` bytes, else its first
    and last ``chunk`` bytes."""
    h = hashlib.sha256()
    try:
        size = path.stat().st_size
        h.update(str(size).encode() + b"\0")
        with open(path, "rb") as fh:
            if size <= 4 * chunk:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            else:
                h.update(fh.read(chunk))
                fh.seek(size - chunk)
                h.update(fh.read(chunk))
    except OSError as exc:
        raise GazevosError(f"cannot read ({exc.strerror or exc})", path) from exc
    return h.hexdigest()


# ----------------------------------------------------------------------------- paths
def staging_path(out: str | os.PathLike[str]) -> Path:
    """The hidden staging folder of output folder ``out``: a sibling whose name stays
    short whatever the length of ``out``'s name."""
    out = Path(out)
    digest = hashlib.sha1(out.name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return out.parent / f".{out.name[:60]}.gazevos-partial-{digest}"


def _aside_path(out: Path) -> Path:
    digest = hashlib.sha1(out.name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return out.parent / f".{out.name[:60]}.gazevos-old-{digest}-{os.getpid()}"


def _os_error(exc: OSError, path: Path, doing: str) -> GazevosError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        reason = "file name too long"
    return GazevosError(f"cannot {doing} ({reason})", getattr(exc, "filename", None) or path)


def check_output_path(out: str | os.PathLike[str]) -> Path:
    """``out`` as a Path after checking that a folder can exist there: not an existing
    file, not under a file, a name the file system accepts."""
    out = Path(out)
    if str(out).strip() == "":
        raise GazevosError("empty output folder name")
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in out.parts):
        raise GazevosError("a path component is longer than 255 bytes", out)
    if out.exists() and not out.is_dir():
        raise GazevosError("output path exists and is not a folder", out)
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise GazevosError("output folder would be under a file", parent)
            break
    return out


def link_tree(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Hard-link (across file systems: copy) the files under ``src`` into ``dst``, keeping
    the folder layout; how a run takes over finished work of the run it replaces."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_dir():
            link_tree(f, dst / f.name)
        elif f.is_file():
            try:
                os.link(f, dst / f.name)
            except OSError:
                shutil.copy2(f, dst / f.name)


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------- runs
@dataclass
class RunDir:
    """One run of a command that writes a folder (see :func:`open_run`).

    Attributes:
        final: the output folder the user named.
        stage: where this run writes (moved to ``final`` by :meth:`commit`).
        command: the command name, recorded in the manifest.
        key: what the outputs depend on (settings, input fingerprints).
        resumed: ``stage`` continues an interrupted run with the same key.
        previous: the manifest of the complete run now in ``final`` (None if none).
        extra: free data stored in the manifest under ``"extra"``.
    """

    final: Path
    stage: Path
    command: str
    key: dict[str, Any]
    resumed: bool = False
    previous: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    committed: bool = False

    def _manifest(self, complete: bool, files: list[str] | None = None) -> dict[str, Any]:
        from gazevos import __version__

        data: dict[str, Any] = {"format": FORMAT, "command": self.command,
                                "complete": complete, "key": self.key, "extra": self.extra,
                                "gazevos": __version__, "started": self.started}
        if complete:
            data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            data["files"] = files or []
        return data

    def mark_started(self) -> None:
        """Write the stage's incomplete manifest (what ``--resume`` checks)."""
        _write_manifest(self.stage, self._manifest(False))

    def commit(self) -> Path:
        """Write the complete manifest last, then move the stage into place.

        An earlier run in ``final`` is renamed aside first and deleted after the move, so
        at every moment ``final`` is absent, the whole old run or the whole new one.

        Returns:
            ``final``.
        """
        files = sorted(f"{p.name}/" if p.is_dir() else p.name for p in self.stage.iterdir()
                       if p.name != MANIFEST)
        _write_manifest(self.stage, self._manifest(True, files))
        aside = None
        try:
            if _is_empty_dir(self.final):
                self.final.rmdir()
            elif self.final.exists():
                aside = _aside_path(self.final)
                _rmtree(aside)
                os.replace(self.final, aside)
            os.replace(self.stage, self.final)
        except OSError as exc:
            if aside is not None and aside.exists() and not self.final.exists():
                os.replace(aside, self.final)  # put the old run back
            raise _os_error(exc, self.final, "move the finished run into place") from exc
        if aside is not None:
            _rmtree(aside)
        self.committed = True
        return self.final

    def discard(self) -> None:
        """Remove the stage (a run that failed on bad input keeps nothing)."""
        _rmtree(self.stage)


def open_run(out: str | os.PathLike[str], command: str, key: dict[str, Any], *,
             force: bool = False, resume: bool = False,
             extra: dict[str, Any] | None = None) -> RunDir:
    """Start a run that writes folder ``out`` (see the module docstring).

    Args:
        out: the output folder.
        command: the command name (``annotate``, ``propagate``, ...).
        key: what the outputs depend on; ``--resume`` continues only a staged run whose
            key is equal.
        force: replace a complete earlier run in ``out`` when this one completes.
        resume: continue an interrupted run with the same key (its stage), and allow
            ``out`` to hold an earlier run that this one will replace.
        extra: stored in the manifest under ``"extra"``.

    Returns:
        the :class:`RunDir`; write into ``run.stage``, then call ``run.commit()``.

    Raises:
        GazevosError: ``out`` is a file, sits under a file, cannot be created; ``out`` is
            not empty and neither ``force`` nor ``resume`` is given; ``out`` holds files
            that are not a gazevos run and ``force`` is given.
    """
    final = check_output_path(out)
    key = normalise_key(key)
    stage = staging_path(final)
    previous = read_manifest(final)
    if final.is_dir() and not _is_empty_dir(final):
        if not (force or resume):
            hint = ""
            if read_manifest(stage, complete_only=False) is not None:
                hint = " (or --resume to continue the interrupted run)"
            raise GazevosError(f"output folder is not empty; pass --force to replace it{hint}",
                               final)
        if previous is None and read_manifest(final, complete_only=False) is None:
            raise GazevosError("output folder is not empty and holds no gazevos run "
                               "(no manifest.json); --force only replaces gazevos runs: "
                               "choose another --out or empty it yourself", final)
    run = RunDir(final, stage, command, key, previous=previous, extra=dict(extra or {}),
                 started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    staged = read_manifest(stage, complete_only=False)
    if (resume and staged is not None and staged.get("command") == command
            and staged.get("key") == key and staged.get("complete") is False):
        run.resumed = True
        run.started = str(staged.get("started", run.started))
    else:
        _rmtree(stage)
        try:
            stage.mkdir(parents=True)
        except OSError as exc:
            raise _os_error(exc, stage.parent, "create the output folder") from exc
    try:
        run.mark_started()
    except OSError as exc:
        raise _os_error(exc, stage, "write into the output folder") from exc
    return run


@contextlib.contextmanager
def run_folder(out: str | os.PathLike[str], command: str, key: dict[str, Any], *,
               force: bool = False, resume: bool = False,
               extra: dict[str, Any] | None = None,
               resumable: bool = True) -> Iterator[RunDir]:
    """:func:`open_run` as a context manager: commits when the block ends normally,
    discards the stage when it raises :class:`GazevosError` (bad input: nothing worth
    resuming), keeps it for ``--resume`` on any other exit (interrupt, crash) unless the
    command cannot resume (``resumable=False``: the stage is discarded then too)."""
    run = open_run(out, command, key, force=force, resume=resume, extra=extra)
    try:
        yield run
    except GazevosError:
        run.discard()
        raise
    except KeyboardInterrupt as exc:
        if not resumable:
            run.discard()
            raise
        raise KeyboardInterrupt(resume_hint(run)) from exc
    if not run.committed:
        run.commit()


def resume_hint(run: RunDir) -> str:
    """What an interrupted run tells the user (the message of its KeyboardInterrupt)."""
    return (f"{run.final}: stopped before the run was complete; the work done is kept: "
            "run the same command with --resume to continue")
