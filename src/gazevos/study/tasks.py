"""One study task: annotate one recording and compute its AOI tables, all or nothing.

A task writes two folders, each staged and moved into place complete:

* ``OUT/recordings/ID/``: the ``annotate`` output (masks, tables, report.html, ...);
* ``OUT/aoi/ID/``: the AOI tables of :mod:`gazevos.gaze.aoi_tables`.

Each carries a ``manifest.json`` written last, ``{"format": 1, "complete": true, "command":
..., "key": ..., "extra": {"study_task": HASH}}``; a recording is done when both manifests are
complete and carry the task's hash (:func:`task_done`).  The hash (:func:`task_hash`) covers
the recording's files, the prompts (and mask files), the tracker and its files, and every
setting, so a changed input or setting reruns only that recording.

File fingerprints (:func:`fingerprint`): a file up to 16 MiB is hashed whole (size + sha256);
a larger one (a long scene video) by its size and its first and last 4 MiB, which keeps a
one-hour video under a second; a folder hashes its files' relative paths and fingerprints,
skipping hidden names.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gazevos import __version__
from gazevos.errors import GazevosError
from gazevos.study.schema import StudyRecording, StudySettings

MANIFEST = "manifest.json"
_CHUNK = 4 << 20


def fingerprint(path: str | os.PathLike[str]) -> str:
    """A content fingerprint of a file or folder (module docstring)."""
    try:  # the project's own, once the output contract (gazevos.io.rundir) is in
        from gazevos.io.rundir import fingerprint as fp

        return fp(path)
    except ImportError:
        pass
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = f.relative_to(path)
            if any(part.startswith(".") for part in rel.parts):
                continue
            h.update(str(rel).encode() + b"\0" + fingerprint(f).encode())
        return h.hexdigest()
    try:
        size = path.stat().st_size
        h.update(str(size).encode() + b"\0")
        with open(path, "rb") as fh:
            if size <= 4 * _CHUNK:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            else:
                h.update(fh.read(_CHUNK))
                fh.seek(size - _CHUNK)
                h.update(fh.read(_CHUNK))
    except OSError as exc:
        raise GazevosError(f"cannot read ({exc.strerror or exc})", path) from None
    return h.hexdigest()


def task_key(rec: StudyRecording, settings: StudySettings) -> dict[str, Any]:
    """What one recording's outputs depend on (module docstring)."""
    s = asdict(settings)
    for name in ("checkpoint", "config"):
        value = getattr(settings, name)
        s[name] = None if value is None else fingerprint(value)
    mask = None
    if rec.objects:
        mask_path = rec.objects.rpartition("@")[0] or rec.objects
        mask = {"spec_frame": rec.objects.rpartition("@")[2], "file": fingerprint(mask_path)}
    return json.loads(json.dumps({
        "gazevos": __version__, "recording": fingerprint(rec.path),
        "boxes": list(rec.boxes), "points": list(rec.points), "objects": mask,
        "names": rec.names, "settings": s}, default=str, sort_keys=True))


def task_hash(key: dict[str, Any]) -> str:
    """sha256 of a task key."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A folder's complete manifest, or None (absent, unreadable or incomplete)."""
    try:
        from gazevos.io.rundir import read_manifest as rm

        return rm(folder)
    except ImportError:
        pass
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("complete") is True else None


def _has_hash(folder: Path, h: str) -> bool:
    m = read_manifest(folder)
    return m is not None and isinstance(m.get("extra"), dict) and \
        m["extra"].get("study_task") == h


def task_done(out: Path, rid: str, h: str) -> bool:
    """Both folders of recording ``rid`` are complete and made by task ``h``."""
    return _has_hash(out / "recordings" / rid, h) and _has_hash(out / "aoi" / rid, h)


def _stage(final: Path) -> Path:
    stage = final.parent / f".{final.name}.study-partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.parent.mkdir(parents=True, exist_ok=True)
    return stage


def _commit(stage: Path, final: Path, command: str, key: dict[str, Any], h: str) -> None:
    """Write the manifest last, then swap the stage into place (old run aside, then gone)."""
    data = {"format": 1, "command": command, "complete": True, "key": key,
            "extra": {"study_task": h}, "gazevos": __version__,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": sorted(p.name for p in stage.iterdir())}
    tmp = stage / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, stage / MANIFEST)
    aside = final.parent / f".{final.name}.study-old-{os.getpid()}"
    if final.exists():
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(final, aside)
    os.replace(stage, final)
    shutil.rmtree(aside, ignore_errors=True)


@dataclass(frozen=True)
class TaskSpec:
    """Everything a worker needs to run one recording (picklable)."""

    recording: StudyRecording
    settings: StudySettings
    out: Path
    key: dict[str, Any]
    hash: str
    threads: int | None = 1


def _annotate_supports_extra() -> bool:
    import inspect

    from gazevos.gaze.annotate import annotate

    return "manifest_extra" in inspect.signature(annotate).parameters


def _log_attempt(spec: TaskSpec) -> None:
    logs = spec.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{spec.recording.id}.attempts", "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()} "
                 f"task {spec.hash[:12]}\n")


def _set_threads(n: int) -> None:
    """torch / OpenCV / BLAS threads of this worker process (the project's setting when it
    has one: :func:`gazevos.runtime.configure_threads`)."""
    try:
        from gazevos.runtime import configure_threads
    except ImportError:
        import cv2
        import torch

        torch.set_num_threads(n)
        cv2.setNumThreads(n)
    else:
        configure_threads(n)


def run_task(spec: TaskSpec) -> dict[str, Any]:
    """Annotate one recording and write its AOI tables (module docstring).

    Returns:
        ``{"id", "seconds", "frames"}``.
    """
    import cv2

    t0 = time.perf_counter()
    if spec.threads is not None:
        _set_threads(spec.threads)
    # GrabCut (box and point prompts) draws from OpenCV's process-wide generator: seed it so
    # that a recording's masks do not depend on what the process ran before
    cv2.setRNGSeed(0)
    from gazevos.gaze.annotate import AnnotateConfig, annotate
    from gazevos.gaze.aoi_tables import recording_tables, write_recording_tables
    from gazevos.gaze.prompts import build_prompts
    from gazevos.io.recordings import read_recording
    from gazevos.track import build_tracker

    _log_attempt(spec)
    rec, st = spec.recording, spec.settings
    prompts = build_prompts(rec.objects, rec.names, rec.boxes, rec.points)
    cfg = AnnotateConfig(tolerance_deg=st.tolerance_deg, fixations=st.fixations,
                         correct_calibration=st.correct_calibration,
                         min_confidence=st.min_confidence, video=st.video,
                         report_frames=st.report_frames)
    tracker = build_tracker(st.tracker, checkpoint=None if st.checkpoint is None
                            else str(st.checkpoint),
                            config=None if st.config is None else str(st.config))
    recording = read_recording(rec.path)
    final = spec.out / "recordings" / rec.id
    if _annotate_supports_extra():  # the output contract stages and commits by itself
        result = annotate(recording, prompts, final, tracker=tracker, config=cfg, force=True,
                          progress=False, manifest_extra={"study_task": spec.hash})
        ann_dir = final
    else:
        stage = _stage(final)
        result = annotate(recording, prompts, stage, tracker=tracker, config=cfg, force=True,
                          progress=False)
        _commit(stage, final, "annotate", spec.key, spec.hash)
        ann_dir = final
    aoi_final = spec.out / "aoi" / rec.id
    aoi_stage = _stage(aoi_final)
    tables = recording_tables(ann_dir, recording.frame_times[:result.n_frames],
                              st.aoi)
    write_recording_tables(tables, aoi_stage)
    _commit(aoi_stage, aoi_final, "study-aoi", spec.key, spec.hash)
    return {"id": rec.id, "seconds": time.perf_counter() - t0, "frames": result.n_frames}
