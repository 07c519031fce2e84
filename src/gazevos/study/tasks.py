"""One study task: annotate one recording and compute its AOI tables, all or nothing.

A task writes two folders, each under the project's output contract
(:mod:`gazevos.io.rundir`: written into a hidden staging folder, ``manifest.json`` last, then
moved into place complete):

* ``OUT/recordings/ID/``: the ``annotate`` output (masks, tables, report.html, ...);
* ``OUT/aoi/ID/``: the AOI tables of :mod:`gazevos.gaze.aoi_tables`.

The AOI manifest carries ``"extra": {"study_task": HASH, "annotate_run": ID}`` (ID: the
annotate manifest's key and times); a recording is done when both folders are complete, the
AOI one made by the task's hash from the annotate run now in place (:func:`task_done`).  The
hash (:func:`task_hash`) covers the recording's files, the prompts (and mask files), the
tracker and its files, and every setting, so a changed input or setting reruns only that
recording.  For a studio project (``studio:``) it covers the project's export key
(:func:`gazevos.studio.export.export_key`: recording fingerprint, tracker, keyframes, objects,
fixation overrides, settings) and the AOI settings; the task exports it headless as
``gazevos annotate --project`` does.

Files are fingerprinted by :func:`gazevos.io.rundir.fingerprint`: a file up to 16 MiB whole
(size + sha256), a larger one (a long scene video) by its size and its first and last 4 MiB;
a folder (a recording) by its files' relative paths, sizes and contents (each file whole up
to 256 KiB, else its first and last 64 KiB), skipping hidden names.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gazevos import __version__
from gazevos.errors import GazevosError
from gazevos.io.rundir import fingerprint, read_manifest
from gazevos.study.schema import StudyRecording, StudySettings


def _studio_key(folder: Path) -> dict[str, Any]:
    """What a studio project's export depends on (its own key: recording fingerprint, tracker,
    keyframes, objects, fixation overrides, settings)."""
    from gazevos.studio.export import export_key
    from gazevos.studio.service import open_studio

    studio = open_studio(None, folder)
    try:
        return export_key(studio)
    finally:
        studio.project.close()


def task_key(rec: StudyRecording, settings: StudySettings) -> dict[str, Any]:
    """What one recording's outputs depend on (module docstring)."""
    if rec.studio is not None:
        return json.loads(json.dumps({"gazevos": __version__, "studio": str(rec.studio),
                                      "export": _studio_key(rec.studio),
                                      "aoi": asdict(settings.aoi)}, default=str,
                                     sort_keys=True))
    s = asdict(settings)
    if s["device"] == "cpu":  # the default: keys of studies from before devices unchanged
        del s["device"]
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


def _run_id(manifest: dict[str, Any]) -> str:
    """Which run a complete manifest belongs to (its key and times)."""
    return task_hash({"key": manifest.get("key"), "started": manifest.get("started"),
                      "finished": manifest.get("finished")})


def task_done(out: Path, rid: str, h: str) -> bool:
    """Recording ``rid``'s annotate folder is complete, and its AOI folder is complete, made by
    task ``h`` from that very annotate run."""
    ann = read_manifest(out / "recordings" / rid)
    aoi = read_manifest(out / "aoi" / rid)
    if ann is None or aoi is None or not isinstance(aoi.get("extra"), dict):
        return False
    return aoi["extra"].get("study_task") == h and aoi["extra"].get("annotate_run") == \
        _run_id(ann)


@dataclass(frozen=True)
class TaskSpec:
    """Everything a worker needs to run one recording (picklable)."""

    recording: StudyRecording
    settings: StudySettings
    out: Path
    key: dict[str, Any]
    hash: str
    threads: int | None = 1
    resume: bool = True


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


def _export_studio(folder: Path, final: Path) -> tuple[Any, Any]:
    """Export a studio project headless into ``final`` (as ``annotate --project``)."""
    from gazevos.studio.export import export
    from gazevos.studio.service import open_studio

    studio = open_studio(None, folder)
    try:
        result = export(studio, final, force=True, progress=False, retrack=True)
        return result, studio.rec.frame_times
    finally:
        studio.project.close()


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
    from gazevos.io.rundir import run_folder
    from gazevos.track import build_tracker

    _log_attempt(spec)
    rec, st = spec.recording, spec.settings
    final = spec.out / "recordings" / rec.id
    extra = {"study_task": spec.hash}
    if rec.studio is not None:
        result, frame_times = _export_studio(rec.studio, final)
    else:
        prompts = build_prompts(rec.objects, rec.names, rec.boxes, rec.points)
        cfg = AnnotateConfig(tolerance_deg=st.tolerance_deg, fixations=st.fixations,
                             correct_calibration=st.correct_calibration,
                             min_confidence=st.min_confidence, video=st.video,
                             report_frames=st.report_frames)
        tracker = build_tracker(st.tracker, checkpoint=None if st.checkpoint is None
                                else str(st.checkpoint),
                                config=None if st.config is None else str(st.config),
                                device=st.device)
        recording = read_recording(rec.path)
        # resume (unless the study runs with --force): a task rerun after its worker was lost
        # continues the staged tracking pass, and a recording whose objects and tracker are
        # unchanged (only gaze settings changed) reuses its masks (gazevos.gaze.annotate)
        result = annotate(recording, prompts, final, tracker=tracker, config=cfg, force=True,
                          resume=spec.resume, progress=False, manifest_extra=extra)
        frame_times = recording.frame_times
    ann = read_manifest(final)
    if ann is None:  # pragma: no cover - annotate/export commit or raise
        raise GazevosError("the annotate run did not complete", final)
    tables = recording_tables(final, frame_times[:result.n_frames], st.aoi)
    with run_folder(spec.out / "aoi" / rec.id, "study-aoi", spec.key, force=True,
                    extra={**extra, "annotate_run": _run_id(ann)}) as run:
        write_recording_tables(tables, run.stage)
    return {"id": rec.id, "seconds": time.perf_counter() - t0, "frames": result.n_frames}
