"""The common recording folder written by glassesTools' importers (gazeMapper, glassesValidator).

glassesTools (https://github.com/dcnieho/glassesTools) converts recordings of many wearable
eye trackers (Tobii Glasses 2/3, SMI ETG, Pupil Core/Invisible/Neon, SeeTrue, AdHawk, Argus,
Meta Aria, VPS ...) into one layout; reading it gives gazevos all those devices.  Files:

* ``gazeData.tsv`` (tab-separated): ``timestamp`` (ms), ``frame_idx``, ``gaze_pos_vid_x``,
  ``gaze_pos_vid_y`` (scene-video pixels, (0, 0) top-left; ``nan`` when missing), plus 3-D
  columns that are not used here;
* ``frameTimestamps.tsv``: ``frame_idx``, ``timestamp`` (ms) of every scene-video frame, on
  the gaze clock; rows with ``frame_idx == -1`` are ignored;
* ``worldCamera.<ext>``: the scene video (optional: ``recording_info.json``'s
  ``scene_video_file`` in ``source_directory`` is used when the video was not copied);
* ``calibration.xml``: OpenCV FileStorage with ``resolution``, ``cameraMatrix``,
  ``distCoeff`` (OpenCV's standard model) and optional extrinsics.

There is no per-sample confidence in this format: every sample gets 1.0; missing positions
stay NaN.  Times are converted from ms to s.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.recordings._common import (
    as_path,
    check_frame_times,
    find_videos,
    gaze_table,
    numeric,
    read_table,
    resolve_resolution,
    video_resolution,
)
from gazevos.io.recordings.base import CameraIntrinsics, Recording

GAZE_FILE = "gazeData.tsv"
FRAMES_FILE = "frameTimestamps.tsv"
LOOKS_FOR = "glassesTools recording folder (gazeData.tsv + frameTimestamps.tsv)"


def probe(path: Path) -> Path | None:
    """The glassesTools recording folder for ``path`` (folder or its gazeData.tsv), or None."""
    folder = path.parent if path.is_file() and path.name == GAZE_FILE else path
    if folder.is_dir() and (folder / GAZE_FILE).is_file() and (folder / FRAMES_FILE).is_file():
        return folder
    return None


def read_calibration_xml(path: Path) -> CameraIntrinsics | None:
    """Read glassesTools' ``calibration.xml`` (OpenCV FileStorage).

    Returns None when the file holds no OpenCV camera (e.g. only a ColMap camera).

    Raises:
        GazevosError: the file cannot be parsed or its matrices have the wrong shape.
    """
    if path.stat().st_size == 0:  # OpenCV fails with SystemError on an empty file
        raise GazevosError("camera calibration file is empty (0 bytes)", path)
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as exc:
        raise GazevosError("cannot parse camera calibration (OpenCV FileStorage)", path) from exc
    try:
        if not fs.isOpened():
            raise GazevosError("cannot open camera calibration", path)
        k = fs.getNode("cameraMatrix").mat()
        d = fs.getNode("distCoeff").mat()
        r = fs.getNode("resolution").mat()
    except (cv2.error, SystemError) as exc:
        raise GazevosError("cannot parse camera calibration (OpenCV FileStorage)", path) from exc
    finally:
        fs.release()
    if k is None or d is None:
        return None
    if r is None or np.asarray(r).size != 2 or np.asarray(k).size != 9:
        raise GazevosError("camera calibration needs a 3x3 cameraMatrix and a 2-element "
                           "resolution", path)
    res = np.asarray(r, dtype=np.float64).reshape(-1)
    k = np.asarray(k, dtype=np.float64).reshape(3, 3)
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    if not (np.isfinite(res).all() and (res >= 1).all() and (res < 1e6).all()):
        raise GazevosError(f"camera calibration resolution {res[0]:g}x{res[1]:g} is not a "
                           "positive size", path)
    if not (np.isfinite(k).all() and np.isfinite(d).all()):
        raise GazevosError("camera calibration holds non-finite values", path)
    return CameraIntrinsics(camera_matrix=k, dist_coeffs=d,
                            resolution=(int(round(res[0])), int(round(res[1]))))


def _json_path(value: object) -> Path | None:
    """A glassesTools JSON path value: a string or ``{"pathlib.Path": "..."}``."""
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    return Path(str(value).replace("\\", "/")) if isinstance(value, str) and value else None


def _find_video(folder: Path) -> tuple[Path | None, str | None]:
    videos = find_videos(folder, stems=["worldCamera"])
    if videos:
        return videos[0], None
    info_file = folder / "recording_info.json"
    if not info_file.is_file():
        return None, None
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GazevosError(f"cannot read JSON ({exc.__class__.__name__})", info_file) from exc
    name = info.get("scene_video_file") if isinstance(info, dict) else None
    if not isinstance(name, str) or not name:
        return None, None
    candidates = [folder / name]
    src = _json_path(info.get("source_directory"))
    if src is not None:
        candidates.append((src if src.is_absolute() else folder / src) / name)
    for c in candidates:
        try:
            if c.is_file():
                return c, None
        except (OSError, ValueError):  # a name the system refuses (NUL byte, too long)
            continue
    return None, f"scene video {name} (from recording_info.json) not found"


def read_glassestools(path: str | os.PathLike[str],
                      resolution: tuple[int, int] | None = None) -> Recording:
    """Read a glassesTools common-format recording folder.

    Args:
        path: the folder (or its ``gazeData.tsv``).
        resolution: scene ``(width, height)`` when there is neither a video nor a calibration.

    Returns:
        A :class:`Recording` with ``format="glassestools"``; times in s (glassesTools ms / 1000).
    """
    root = as_path(path)
    folder = probe(root)
    if folder is None:
        raise GazevosError(f"not a glassesTools recording: needs {GAZE_FILE} and "
                           f"{FRAMES_FILE}", root)
    gaze_file = folder / GAZE_FILE
    gaze = read_table(gaze_file, required=("timestamp", "gaze_pos_vid_x", "gaze_pos_vid_y"),
                      sep="\t", what="gaze file")
    frames_file = folder / FRAMES_FILE
    ft = read_table(frames_file, required=("frame_idx", "timestamp"), sep="\t",
                    what="frame timestamp file", allow_no_rows=True)
    idx = numeric(ft, "frame_idx", frames_file, "frame timestamp file")
    keep = idx != -1
    idx = idx[keep]
    order = np.argsort(idx, kind="stable")
    if not np.array_equal(idx[order], np.arange(len(idx))):
        raise GazevosError("frame_idx must run 0, 1, 2, ... without gaps or repeats", frames_file)
    frame_times = check_frame_times(
        numeric(ft, "timestamp", frames_file, "frame timestamp file")[keep][order] / 1000.0,
        frames_file)

    video_path, video_note = _find_video(folder)
    calib_file = folder / "calibration.xml"
    intrinsics = read_calibration_xml(calib_file) if calib_file.is_file() else None
    vres = video_resolution(video_path) if video_path is not None else None
    res, res_source = resolve_resolution(
        vres, resolution, None if intrinsics is None else intrinsics.resolution, folder,
        "calibration.xml")
    meta: dict[str, object] = {"gaze_file": str(gaze_file),
                               "frame_timestamps_file": str(frames_file),
                               "resolution_source": res_source}
    if intrinsics is not None and intrinsics.resolution != res:
        meta["intrinsics_note"] = (f"calibration is for {intrinsics.resolution[0]}x"
                                   f"{intrinsics.resolution[1]}, video is {res[0]}x{res[1]}: "
                                   "intrinsics dropped")
        intrinsics = None
    if video_note:
        meta["video_note"] = video_note
    samples = gaze_table(numeric(gaze, "timestamp", gaze_file, "gaze file") / 1000.0,
                         numeric(gaze, "gaze_pos_vid_x", gaze_file, "gaze file"),
                         numeric(gaze, "gaze_pos_vid_y", gaze_file, "gaze file"), 1.0, gaze_file)
    return Recording(format="glassestools", root=root, video_path=video_path,
                     frame_times=frame_times, resolution=res, gaze=samples,
                     intrinsics=intrinsics, meta=meta)


#: ``gazevos import`` device names -> glassesTools ``EyeTracker`` member names.
GLASSESTOOLS_DEVICES = {
    "adhawk-mindlink": "AdHawk_MindLink", "argus-etvision": "Argus_ETVision",
    "meta-aria-gen1": "Meta_Aria_Gen_1", "pupil-core": "Pupil_Core",
    "pupil-invisible": "Pupil_Invisible", "pupil-neon": "Pupil_Neon",
    "seetrue-stone": "SeeTrue_STONE", "smi-etg": "SMI_ETG", "tobii-g2": "Tobii_Glasses_2",
    "tobii-g3": "Tobii_Glasses_3", "vps-19": "VPS_19", "vps-lite": "VPS_Lite",
}
GLASSESTOOLS_HINT = (
    "importing needs glassesTools, which is not installed; install it with: "
    "pip install 'gazevos[glasses]' && pip install --no-deps glassestools==1.24.0 "
    "(--no-deps because glassesTools pins an older OpenCV than gazevos)")


def _glassestools_importing():  # noqa: ANN202 - returns a module
    try:
        import glassesTools.importing as importing  # type: ignore[import-not-found]
    except ImportError as exc:
        raise GazevosError(GLASSESTOOLS_HINT) from exc
    return importing


def import_with_glassestools(device: str, source: str | os.PathLike[str],
                             dest: str | os.PathLike[str], force: bool = False,
                             copy_scene_video: bool = True) -> Recording:
    """Convert a device recording into a glassesTools folder with glassesTools' importer.

    The import runs into a hidden temporary folder beside ``dest``, is read back with
    :func:`read_glassestools` as a check, and only then is moved to ``dest`` (replacing an
    existing non-empty ``dest`` only with ``force``).

    Args:
        device: a key of :data:`GLASSESTOOLS_DEVICES` (e.g. ``tobii-g3``).
        source: the recording as the device (or its software) stored it.
        dest: the output folder.
        force: replace a non-empty ``dest``.
        copy_scene_video: copy the scene video into ``dest`` (otherwise it is referenced).

    Returns:
        The imported recording, read from ``dest``.

    Raises:
        GazevosError: glassesTools missing, unknown device, ``dest`` not empty, or the import
            failed (glassesTools' message, on one line).
    """
    if device not in GLASSESTOOLS_DEVICES:
        raise GazevosError(f"unknown device '{device}' (choose from "
                           f"{', '.join(sorted(GLASSESTOOLS_DEVICES))})")
    src = Path(source)
    if not src.is_dir():
        raise GazevosError("source recording folder not found", src)
    dst = Path(dest)
    if dst.exists() and not dst.is_dir():
        raise GazevosError("output path exists and is not a folder", dst)
    if dst.is_dir() and any(dst.iterdir()) and not force:
        raise GazevosError("output folder is not empty; pass --force to replace it", dst)
    importing = _glassestools_importing()
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.importing-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        # glassesTools' own order: describe the recording(s) found, then import one; calling
        # do_import without rec_info leaves its working directory unset (fails on Glasses 3)
        infos = importing.get_recording_info(source_dir=src, device=GLASSESTOOLS_DEVICES[device])
        if not infos:
            raise GazevosError(f"glassesTools found no {device} recording here", src)
        if len(infos) > 1:
            names = ", ".join(str(getattr(i, "name", "?")) for i in infos)
            raise GazevosError(f"glassesTools found {len(infos)} recordings here ({names}); "
                               "point at one recording's folder", src)
        importing.do_import(output_dir=tmp, rec_info=infos[0],
                            copy_scene_video=copy_scene_video)
        if not tmp.is_dir():
            raise GazevosError("glassesTools reported no recording to import", src)
        read_glassestools(tmp)  # check what was written before putting it in place
    except GazevosError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:  # noqa: BLE001 - glassesTools raises many kinds; one line out
        shutil.rmtree(tmp, ignore_errors=True)
        msg = " ".join(str(exc).split())[:200]
        raise GazevosError(f"glassesTools could not import this {device} recording "
                           f"({exc.__class__.__name__}: {msg})", src) from exc
    old = None
    if dst.exists():
        old = dst.parent / f".{dst.name}.replaced-{os.getpid()}"
        dst.rename(old)
    tmp.rename(dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return read_glassestools(dst)
