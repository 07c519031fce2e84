"""Export a studio project as an ``annotate`` output folder (the same files, same contract).

Two ways, same result:

* :func:`export` (the studio's *Export* button): the project's tracked masks (frames not
  tracked yet are tracked first) are linked into the run;
* :func:`export_project` (``gazevos annotate --project DIR``): headless, every frame is
  tracked again from the project's keyframes into the run, so a project folder is a
  reproducible artefact.  Since a frame's labels depend only on its neighbouring
  keyframes (:mod:`gazevos.track.keyframes`), both give the same masks and tables.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gazevos.gaze.annotate import AnnotateResult, recording_fingerprint, write_gaze_tables
from gazevos.gaze.prompts import ObjectPrompt
from gazevos.io.rundir import fingerprint, normalise_key, run_folder
from gazevos.studio import service
from gazevos.studio.service import Studio

MASKS_DIR = "masks"


def export_key(studio: Studio) -> dict[str, Any]:
    """What an export depends on: recording, frames, tracker, keyframes (their maps'
    fingerprints), objects, overrides and settings."""
    project = studio.project
    keyframes = [{"frame": k.frame, "object": k.object_id, "kind": k.kind,
                  "payload": k.payload, "mask": fingerprint(project.root / k.mask)}
                 for k in project.keyframes()]
    track = {"recording": recording_fingerprint(studio.rec), "n_frames": studio.n_frames,
             "tracker": studio.tracker_name, "keyframes": keyframes}
    return normalise_key({"track": track, "settings": studio.config.__dict__,
                          "objects": [o.__dict__ for o in project.objects()],
                          "overrides": sorted(project.overrides().items())})


def _prompts(studio: Studio) -> list[ObjectPrompt]:
    """One prompt per object for the report: its first keyframe, as a mask."""
    first: dict[int, Any] = {}
    for k in studio.project.keyframes():
        first.setdefault(k.object_id, k)
    out = []
    for o in studio.project.objects():
        k = first.get(o.id)
        out.append(ObjectPrompt(o.id, o.name, k.frame if k else 0, "mask",
                                mask_path=None if k is None else studio.project.root / k.mask))
    return out


def _write(studio: Studio, run: Any, retrack: bool, progress: bool, started: float
           ) -> AnnotateResult:
    from gazevos.report.annotation import write_outputs

    out = run.stage
    t0 = time.perf_counter()
    if retrack:
        service.track_into(studio, out / MASKS_DIR)
    else:
        for start, stop in service.untracked_spans(studio):
            service.track(studio, (start, stop))
        (out / MASKS_DIR).mkdir(parents=True, exist_ok=True)
        src = studio.project.masks_dir
        for i in range(studio.n_frames):
            name = f"{i:05d}.png"
            kf = studio.project.keyframe_labels(i)
            if kf is not None:  # a keyframe is its map, whatever a pass wrote
                from gazevos.io.masks import write_mask

                write_mask(out / MASKS_DIR / name, kf)
            else:
                link_tree_file(src / name, out / MASKS_DIR / name)
    track_s = time.perf_counter() - t0
    t_gaze = time.perf_counter()
    tables = service.compute_tables(studio, out / MASKS_DIR)
    files = [f"{MASKS_DIR}/", *write_gaze_tables(tables, out)]
    result = AnnotateResult(out, studio.n_frames, track_s, 0.0, not retrack, tables.samples,
                            tables.fixations, tables.metrics, tables.transitions,
                            tables.correction, files, list(tables.notes),
                            {"track": track_s, "gaze": time.perf_counter() - t_gaze})
    write_outputs(result, studio.rec, _prompts(studio), studio.tracker_name, studio.geometry,
                  studio.config, progress, started)
    return result


def link_tree_file(src: Path, dst: Path) -> None:
    """Hard-link (or copy) one file."""
    import shutil

    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def export(studio: Studio, out: str | os.PathLike[str], force: bool = False,
           progress: bool = False, retrack: bool = False) -> AnnotateResult:
    """Write the project as an ``annotate`` folder ``out`` (output contract: staged,
    ``manifest.json`` last; ``force`` replaces an earlier run).

    Args:
        retrack: track every frame again from the keyframes (headless reproduction)
            instead of using the project's masks.
    """
    started = time.perf_counter()
    key = export_key(studio)
    extra = {"project": str(studio.project.root), "retracked": retrack}
    with studio.lock, run_folder(out, "annotate", key, force=force, extra=extra) as run:
        result = _write(studio, run, retrack, progress, started)
    result.out_dir = run.final
    studio.project.set_meta("last_export", {"out": str(run.final), "retracked": retrack},
                            "export")
    return result


def export_project(project_dir: str | os.PathLike[str], out: str | os.PathLike[str],
                   force: bool = False, progress: bool = True) -> AnnotateResult:
    """``gazevos annotate --project DIR``: reproduce a studio project's export headless."""
    studio = service.open_studio(None, project_dir)
    try:
        return export(studio, out, force=force, progress=progress, retrack=True)
    finally:
        studio.project.close()


__all__ = ["export", "export_key", "export_project"]
