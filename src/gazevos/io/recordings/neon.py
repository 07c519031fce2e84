"""Pupil Neon / Pupil Invisible recordings: Pupil Cloud exports and native Neon folders.

**Pupil Cloud "Timeseries Data (+ Scene Video)" export** (format ``neon``), one folder per
recording:

* ``gaze.csv``: ``timestamp [ns]`` (UTC ns), ``gaze x [px]``, ``gaze y [px]`` (scene-video
  pixels, top-left origin), ``worn`` (0/1), ``fixation id``, ... (extra columns ignored);
* ``world_timestamps.csv``: ``timestamp [ns]`` of every scene-video frame;
* ``fixations.csv``: ``fixation id``, ``start timestamp [ns]``, ``end timestamp [ns]``,
  ``fixation x [px]``, ``fixation y [px]``;
* ``scene_camera.json``: ``camera_matrix`` and ``distortion_coefficients`` (Neon) or
  ``dist_coefs`` (Invisible);
* the scene video: the one ``*.mp4`` of the folder (only in "+ Scene Video" downloads);
* ``info.json``: recording metadata.

Times become seconds since the first scene frame (or the first gaze sample when there are
no frame timestamps); that origin is kept as ``meta["time_zero_ns"]`` (UTC ns).  Integer
nanoseconds are subtracted before converting to float, so no precision is lost.  ``worn``
(0/1) becomes the sample ``confidence``; a sample taken while the glasses were not worn is
therefore flagged ``low_confidence`` by synchronisation.

**Native Neon recording** (format ``neon_native``, as copied from the Companion phone or
downloaded as "Native Recording Data"): read through Pupil Labs' ``pupil-labs-neon-recording``
library (a dependency; its footprint is in ``docs/experiments/recordings.md``).  A recording
whose scene video lacks parts is read as far as it exists; what is missing is said in
:attr:`Recording.notes`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.io.recordings._common import (
    as_path,
    check_frame_times,
    find_videos,
    fixation_table,
    gaze_table,
    numeric,
    read_json,
    read_table,
    resolve_resolution,
    video_resolution,
)
from gazevos.io.recordings.base import CameraIntrinsics, Recording

TS = "timestamp [ns]"
LOOKS_FOR = "Pupil Cloud Neon/Invisible timeseries export (gaze.csv + world_timestamps.csv)"
LOOKS_FOR_NATIVE = "native Neon recording (info.json + 'gaze ps1.raw' or gaze_200hz.raw)"
NEON_LIBRARY_HINT = ("reading native Neon recordings needs pupil-labs-neon-recording, a "
                     "gazevos dependency that is not installed: "
                     "pip install pupil-labs-neon-recording==2.1.6")
SCENE = "Neon Scene Camera v1"
#: The Neon scene camera's frame size, assumed when a native recording has no scene video.
NEON_SCENE_RESOLUTION = (1600, 1200)


def probe(path: Path) -> Path | None:
    """The export folder for ``path`` (folder or its ``gaze.csv``), or None."""
    folder = path.parent if path.is_file() and path.name == "gaze.csv" else path
    if folder.is_dir() and (folder / "gaze.csv").is_file() and \
            (folder / "world_timestamps.csv").is_file():
        return folder
    return None


def probe_native(path: Path) -> Path | None:
    """``path`` if it looks like a native Neon recording folder, else None."""
    if not path.is_dir() or not (path / "info.json").is_file():
        return None
    if (path / "gaze_200hz.raw").is_file() or any(path.glob("gaze ps*.raw")):
        return path
    return None


def _ns(df: pd.DataFrame, column: str, path: Path, what: str) -> np.ndarray:
    """An integer-nanosecond column as int64 (one-line error on blanks, text, non-finite
    values or values beyond int64)."""
    values = pd.to_numeric(df[column], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise GazevosError(f"{what} column '{column}' has a missing or non-numeric value in "
                           f"data row {row + 1}", path)
    arr = values.to_numpy()
    if arr.dtype.kind == "i":
        return arr.astype(np.int64)
    as_float = arr.astype(np.float64) if arr.dtype.kind in "uf" else np.full(len(arr), np.inf)
    bad = ~np.isfinite(as_float) | (np.abs(as_float) >= 2.0 ** 63)
    if arr.dtype.kind == "u":
        bad |= arr > np.iinfo(np.int64).max
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise GazevosError(f"{what} column '{column}' has a value that is not a nanosecond "
                           f"timestamp ({df[column].iloc[row]!r}) in data row {row + 1}", path)
    return arr.astype(np.int64)


def _rel_seconds(ns: np.ndarray, zero: int, path: Path | None = None) -> np.ndarray:
    """Seconds of int64 nanoseconds ``ns`` after ``zero``, subtracted exactly in integers."""
    ns = np.asarray(ns, dtype=np.int64)
    if ns.size and np.abs(ns.astype(np.float64) - float(zero)).max() >= 2.0 ** 62:
        raise GazevosError("timestamps span more than 146 years: not one recording's clock",
                           path)
    return (ns - np.int64(zero)).astype(np.float64) / 1e9


def _worn(gaze: pd.DataFrame, path: Path) -> np.ndarray:
    """The ``worn`` column as 0.0/1.0 (accepts numbers and true/false text; blank -> 0)."""
    col = gaze["worn"]
    if col.dtype == object:
        col = col.map(lambda v: {"true": 1.0, "false": 0.0}.get(str(v).strip().lower(), v))
        gaze = gaze.assign(worn=col)
    return np.nan_to_num(numeric(gaze, "worn", path, "gaze file"), nan=0.0)


def _scene_intrinsics(path: Path, resolution: tuple[int, int]) -> CameraIntrinsics:
    data = read_json(path)
    dist_key = next((k for k in ("distortion_coefficients", "dist_coefs") if k in data), None)
    if "camera_matrix" not in data or dist_key is None:
        raise GazevosError("scene_camera.json lacks camera_matrix or distortion_coefficients",
                           path)
    try:
        k = np.asarray(data["camera_matrix"], dtype=np.float64).reshape(3, 3)
        d = np.asarray(data[dist_key], dtype=np.float64).reshape(-1)
    except (ValueError, TypeError, OverflowError) as exc:
        raise GazevosError("scene_camera.json has a malformed camera matrix or distortion",
                           path) from exc
    if not (np.isfinite(k).all() and np.isfinite(d).all()):
        raise GazevosError("scene_camera.json holds non-finite values", path)
    return CameraIntrinsics(camera_matrix=k, dist_coeffs=d, resolution=resolution)


def _device_name(info: dict) -> str:
    if "module_serial_number" in info or "Neon" in str(info.get("frame_name", "")):
        return "Pupil Neon"
    if "glasses_serial_number" in info or "scene_camera_serial_number" in info:
        return "Pupil Invisible"
    return "Pupil Neon or Invisible"


def _pick_video(folder: Path, video: str | os.PathLike[str] | None) -> Path | None:
    if video is not None:
        v = Path(video)
        if not v.is_absolute() and not v.exists():
            v = folder / v
        if not v.is_file():
            raise GazevosError("scene video not found", v)
        return v
    videos = [v for v in find_videos(folder) if v.suffix.lower() == ".mp4"]
    if len(videos) > 1:
        raise GazevosError(f"several scene videos ({', '.join(v.name for v in videos)}); "
                           "pass video=NAME (CLI: --video)", folder)
    return videos[0] if videos else None


def read_neon(path: str | os.PathLike[str], resolution: tuple[int, int] | None = None,
              video: str | os.PathLike[str] | None = None) -> Recording:
    """Read a Pupil Cloud Neon / Invisible "Timeseries Data" export folder.

    Args:
        path: the recording's export folder (or its ``gaze.csv``).
        resolution: scene ``(width, height)`` when the export has no scene video.
        video: the scene video, when the folder holds several ``.mp4`` files.

    Returns:
        A :class:`Recording` with ``format="neon"``; times in s since ``meta["time_zero_ns"]``.
    """
    root = as_path(path)
    folder = probe(root)
    if folder is None:
        raise GazevosError("not a Pupil Cloud timeseries export: needs gaze.csv and "
                           "world_timestamps.csv", root)
    gaze_file = folder / "gaze.csv"
    gaze = read_table(gaze_file, required=(TS, "gaze x [px]", "gaze y [px]"), what="gaze file")
    ts_file = folder / "world_timestamps.csv"
    wts = read_table(ts_file, required=(TS,), what="frame timestamp file", allow_no_rows=True)

    gaze_ns = _ns(gaze, TS, gaze_file, "gaze file")
    frame_ns = _ns(wts, TS, ts_file, "frame timestamp file")
    zero = int(frame_ns[0]) if len(frame_ns) else int(gaze_ns.min())
    frame_times = check_frame_times(_rel_seconds(frame_ns, zero, ts_file), ts_file)

    video_path = _pick_video(folder, video)
    vres = video_resolution(video_path) if video_path is not None else None
    res, res_source = resolve_resolution(vres, resolution, None, folder)

    conf = _worn(gaze, gaze_file) if "worn" in gaze.columns else 1.0
    samples = gaze_table(_rel_seconds(gaze_ns, zero, gaze_file),
                         numeric(gaze, "gaze x [px]", gaze_file, "gaze file"),
                         numeric(gaze, "gaze y [px]", gaze_file, "gaze file"), conf, gaze_file)

    fixations = None
    fix_file = folder / "fixations.csv"
    if fix_file.is_file() and fix_file.stat().st_size > 0:
        fx = read_table(fix_file, required=("fixation id", "start timestamp [ns]",
                                            "end timestamp [ns]", "fixation x [px]",
                                            "fixation y [px]"),
                        what="fixation file", allow_no_rows=True)
        fixations = fixation_table(
            fx["fixation id"].to_numpy(),
            _rel_seconds(_ns(fx, "start timestamp [ns]", fix_file, "fixation file"), zero,
                         fix_file),
            _rel_seconds(_ns(fx, "end timestamp [ns]", fix_file, "fixation file"), zero,
                         fix_file),
            numeric(fx, "fixation x [px]", fix_file, "fixation file"),
            numeric(fx, "fixation y [px]", fix_file, "fixation file"), fix_file)

    cam_file = folder / "scene_camera.json"
    intrinsics = _scene_intrinsics(cam_file, res) if cam_file.is_file() else None
    info = read_json(folder / "info.json") if (folder / "info.json").is_file() else {}
    meta: dict[str, object] = {
        "device": _device_name(info), "time_zero_ns": zero, "gaze_file": str(gaze_file),
        "frame_timestamps_file": str(ts_file), "resolution_source": res_source,
    }
    for key in ("recording_id", "start_time", "app_version", "pipeline_version"):
        if key in info:
            meta[key] = info[key]
    return Recording(format="neon", root=root, video_path=video_path, frame_times=frame_times,
                     resolution=res, gaze=samples, intrinsics=intrinsics, fixations=fixations,
                     meta=meta)


def _import_neon_recording():  # noqa: ANN202 - returns a module
    """``pupil_labs.neon_recording``, or None when it is not installed.

    Importing it imports ``pupil_labs.video``, whose writer module switches PyAV's FFmpeg
    logging on (``av.logging.set_level(VERBOSE)``) for the whole process.  That callback takes
    the GIL inside FFmpeg's decoder threads and deadlocks frame-threaded decoding when a
    decoder is freed (PyAV issues 751 and 909: ``annotate`` hung writing the overlay of a
    recording read after a Neon one), so the level in force before the import is put back.
    """
    import av.logging

    level = av.logging.get_level()
    try:
        import pupil_labs.neon_recording as nr  # type: ignore[import-not-found]
    except ImportError:
        return None
    finally:
        av.logging.set_level(level)
    return nr


def _part(path: Path, base: str) -> int | None:
    """The part number N of ``"<base> psN.<ext>"``, or None for another name."""
    rest = path.stem[len(base):]
    if not path.stem.startswith(base) or not rest.startswith(" ps") or not rest[3:].isdigit():
        return None
    return int(rest[3:])


def _scene_parts(root: Path) -> tuple[dict[int, Path], dict[int, Path]]:
    """Scene-video parts: ``({N: psN.mp4}, {N: psN.time})`` of the files that exist."""
    videos: dict[int, Path] = {}
    times: dict[int, Path] = {}
    for f in root.glob(f"{SCENE} ps*"):
        n = _part(f, SCENE)
        if n is not None and f.suffix == ".mp4":
            videos[n] = f
        elif n is not None and f.suffix == ".time":
            times[n] = f
    return videos, times


def _part_list(parts: list[int]) -> str:
    return ("part " if len(parts) == 1 else "parts ") + ", ".join(str(n) for n in parts)


def _scene_note(videos: dict[int, Path], times: dict[int, Path],
                gaze_time: np.ndarray, frame_time: np.ndarray) -> str | None:
    """The sentence naming the scene-video parts whose ``.mp4`` is missing, or None.

    A part is missing when its ``.time`` file exists but its video does not.  ``gaze_time``
    and ``frame_time`` (s) count the gaze samples that fall outside the part that is read.
    """
    missing = sorted(set(times) - set(videos))
    if not missing:
        return None
    frames = [times[n].stat().st_size // 8 for n in missing]
    spans = []
    for n in missing:
        t = np.fromfile(times[n], dtype="<i8")
        spans.append(float(t[-1] - t[0]) / 1e9 if t.size > 1 else 0.0)
    kept = sorted(set(videos) & set(times))
    what = (f"only {_part_list(kept)} ({', '.join(videos[n].name for n in kept)}) is read"
            if kept else "the recording has no scene video at all")
    if len(frame_time):
        step = float(np.median(np.diff(frame_time))) if len(frame_time) > 1 else 0.0
        out = int(((gaze_time < frame_time[0]) | (gaze_time > frame_time[-1] + step)).sum())
        what += (f"; {out} of the {len(gaze_time)} gaze samples lie outside it and are "
                 "flagged before_video/after_video")
    return (f"scene video of {_part_list(missing)} is missing "
            f"({', '.join(f'{SCENE} ps{n}.mp4' for n in missing)}: {sum(frames)} frames, "
            f"{' + '.join(f'{d:.1f}' for d in spans)} s); {what}")


def _other_missing(root: Path, videos: dict[int, Path], times: dict[int, Path]) -> list[str]:
    """Sentences about scene videos without timestamps and files ``manifest.json`` lists
    that the folder lacks (missing scene-video parts are left to :func:`_scene_note`)."""
    notes = [f"{videos[n].name} has no timestamp file ({SCENE} ps{n}.time); that part is "
             "not read" for n in sorted(set(videos) - set(times))]
    manifest = root / "manifest.json"
    if manifest.is_file():
        try:
            listed = json.loads(manifest.read_text(encoding="utf-8"))
            names = [str(e["name"]) for e in listed if isinstance(e, dict) and "name" in e]
        except (OSError, UnicodeDecodeError, ValueError, TypeError):
            names = []
        scene = {f"{SCENE} ps{n}.mp4" for n in times}
        absent = [n for n in names if n not in scene and not (root / n).exists()]
        if absent:
            shown = ", ".join(absent[:6]) + (f" and {len(absent) - 6} more"
                                             if len(absent) > 6 else "")
            notes.append(f"manifest.json lists file(s) the folder lacks: {shown}")
    return notes


def read_neon_native(path: str | os.PathLike[str],
                     resolution: tuple[int, int] | None = None) -> Recording:
    """Read a native Neon recording folder (data format 2.x) with Pupil Labs'
    ``pupil-labs-neon-recording`` library.

    Gaze is the library's (``gaze_200hz`` when the folder has it, else the real-time
    ``gaze psN`` parts); ``worn`` (0 or 255 in the files) becomes ``confidence`` 0 or 1.
    The scene video must be one part (``Neon Scene Camera v1 psN.mp4`` with its ``.time``);
    parts whose video is missing are named in :attr:`Recording.notes` and the rest is read.
    Times are seconds since the first scene frame of the part read (``meta["time_zero_ns"]``,
    UTC ns), or since the first gaze sample when there is no scene video.

    Args:
        path: the recording folder.
        resolution: scene ``(width, height)`` when the folder has no scene video (default
            for a Neon: its scene camera's 1600x1200).

    Raises:
        GazevosError: not a native Neon folder, several scene-video parts present, no gaze,
            or the library cannot read the folder.
    """
    root = as_path(path)
    if probe_native(root) is None:
        raise GazevosError(f"not a native Neon recording: needs {LOOKS_FOR_NATIVE}", root)
    nr = _import_neon_recording()
    if nr is None:
        raise GazevosError(NEON_LIBRARY_HINT, root)
    videos, times = _scene_parts(root)
    missing = sorted(set(times) - set(videos))
    usable = sorted(set(videos) & set(times))
    if len(usable) > 1:
        raise GazevosError(f"scene video is split into {len(usable)} parts "
                           f"({', '.join(videos[n].name for n in usable)}); gazevos reads one "
                           "scene video: export the recording from Pupil Cloud instead", root)
    info = read_json(root / "info.json")
    try:
        with nr.open(root) as rec:
            gaze_ns = np.asarray(rec.gaze.time, dtype=np.int64)
            xy = np.asarray(rec.gaze.point, dtype=np.float64).reshape(-1, 2)
            conf: np.ndarray | float = 1.0
            try:
                worn = np.asarray(rec.worn.worn, dtype=np.float64)
                if len(worn) == len(gaze_ns):
                    conf = (worn > 0).astype(np.float64)
            except (AttributeError, nr.NeonRecording.SensorError, OSError, ValueError):
                pass
            frame_ns = np.zeros(0, dtype=np.int64)
            vres = None
            if usable:
                scene = rec.scene
                frame_ns = np.asarray(scene.time, dtype=np.int64)
                vres = (int(scene.width), int(scene.height))
            calib = rec.calibration
            try:
                fx = rec.fixations
                fixations_raw = (np.asarray(fx.start_time, dtype=np.int64),
                                 np.asarray(fx.stop_time, dtype=np.int64),
                                 np.asarray(fx.mean_gaze_point, dtype=np.float64).reshape(-1, 2))
            except (AttributeError, nr.NeonRecording.SensorError, KeyError, OSError,
                    ValueError):
                fixations_raw = None
    except GazevosError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library raises many kinds; one line out
        cause = exc.__cause__ if isinstance(exc, nr.NeonRecording.SensorError) else None
        detail = " ".join(f"{exc} {cause or ''}".split())[:160]
        raise GazevosError(f"cannot read native Neon recording ({exc.__class__.__name__}: "
                           f"{detail})", root) from exc
    if len(gaze_ns) == 0:
        raise GazevosError("native Neon recording has no gaze samples", root)
    neon = "module_serial_number" in info or "Neon" in str(info.get("android_device_name", ""))
    res, res_source = resolve_resolution(vres, resolution, NEON_SCENE_RESOLUTION if neon else None,
                                         root, "Neon scene camera (1600x1200)")
    zero = int(frame_ns[0]) if len(frame_ns) else int(gaze_ns.min())
    intrinsics = None
    if calib is not None:
        intrinsics = CameraIntrinsics(
            camera_matrix=np.asarray(calib.scene_camera_matrix, dtype=np.float64).reshape(3, 3),
            dist_coeffs=np.asarray(calib.scene_distortion_coefficients,
                                   dtype=np.float64).reshape(-1),
            resolution=res)
    fixations = None
    if fixations_raw is not None:
        s, e, p = fixations_raw
        fixations = fixation_table(np.arange(len(s)), _rel_seconds(s, zero),
                                   _rel_seconds(e, zero), p[:, 0], p[:, 1])
    meta: dict[str, object] = {
        "device": "Pupil Neon", "time_zero_ns": zero, "resolution_source": res_source,
        "scene_part": usable[0] if usable else None, "missing_scene_parts": missing,
        "library": f"pupil-labs-neon-recording {getattr(nr, '__version__', '?')}"}
    for key in ("recording_id", "start_time", "app_version", "pipeline_version",
                "data_format_version"):
        if key in info:
            meta[key] = info[key]
    frame_times = check_frame_times(_rel_seconds(frame_ns, zero), root)
    gaze = gaze_table(_rel_seconds(gaze_ns, zero), xy[:, 0], xy[:, 1], conf, root)
    scene_note = _scene_note(videos, times, gaze["time"].to_numpy(), frame_times)
    notes = ([scene_note] if scene_note else []) + _other_missing(root, videos, times)
    return Recording(
        format="neon_native", root=root, video_path=videos[usable[0]] if usable else None,
        frame_times=frame_times, resolution=res, gaze=gaze, intrinsics=intrinsics,
        fixations=fixations, meta=meta, notes=notes)
