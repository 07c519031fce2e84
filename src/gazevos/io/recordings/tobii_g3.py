"""Tobii Pro Glasses 3 recording folders (as stored on the recording unit's SD card).

Files used:

* ``gazedata.gz``: gzip-compressed JSON, one object per line,
  ``{"type": "gaze", "timestamp": <s since recording start>, "data": {"gaze2d": [x, y],
  "gaze3d": [...], "eyeleft": {...}, "eyeright": {...}}}``; ``gaze2d`` is normalised to the
  scene image with (0, 0) at its top-left and (1, 1) at its bottom-right (values outside 0..1
  are gaze outside the image); a lost sample has ``"data": {}``.
* ``scenevideo.mp4``: the scene video; its presentation timestamps are on the same clock as
  the gaze timestamps (seconds since recording start), so frame times are read from the
  video container itself.
* ``recording.g3`` (JSON), when present: ``scenecamera.camera-calibration`` with
  ``focal-length``, ``principal-point``, ``skew``, ``radial-distortion`` (k1, k2, k3),
  ``tangential-distortion`` (p1, p2) and ``resolution``; file names under ``gaze.file`` and
  ``scenecamera.file`` are honoured.

The device gives no per-sample confidence: valid samples get 1.0, lost samples 0.0 (and NaN
position).  A truncated last line (recording cut off) is skipped and noted in ``meta``.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path

import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.recordings._common import (
    as_path,
    gaze_table,
    read_json,
    resolve_resolution,
    video_frame_times,
    video_resolution,
)
from gazevos.io.recordings.base import CameraIntrinsics, Recording
from gazevos.io.video import path_kind

LOOKS_FOR = "Tobii Pro Glasses 3 folder (gazedata.gz with scenevideo.mp4 or recording.g3)"


def probe(path: Path) -> Path | None:
    """``path`` (or the folder of a given ``gazedata.gz``) if it is a Glasses 3 folder."""
    folder = path.parent if path.is_file() and path.name == "gazedata.gz" else path
    if folder.is_dir() and (folder / "gazedata.gz").is_file() and (
            (folder / "scenevideo.mp4").is_file() or (folder / "recording.g3").is_file()):
        return folder
    return None


def intrinsics_from_g3(calib: dict, path: Path) -> CameraIntrinsics:
    """Build :class:`CameraIntrinsics` from ``recording.g3``'s ``camera-calibration``.

    K = [[fx, skew, cx], [0, fy, cy], [0, 0, 1]]; OpenCV distortion order (k1, k2, p1, p2, k3).
    """
    try:
        fx, fy = (float(v) for v in calib["focal-length"])
        cx, cy = (float(v) for v in calib["principal-point"])
        skew = float(calib.get("skew", 0.0))
        radial = [float(v) for v in calib.get("radial-distortion", [0.0, 0.0, 0.0])]
        tangential = [float(v) for v in calib.get("tangential-distortion", [0.0, 0.0])]
        w, h = (int(v) for v in calib["resolution"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise GazevosError("recording.g3 camera-calibration lacks focal-length, "
                           "principal-point or resolution", path) from exc
    if not (0 < w < 10 ** 6 and 0 < h < 10 ** 6):
        raise GazevosError(f"recording.g3 camera-calibration resolution {w}x{h} is not a "
                           "positive size", path)
    if not np.isfinite([fx, fy, cx, cy, skew, *radial, *tangential]).all():
        raise GazevosError("recording.g3 camera-calibration holds non-finite values", path)
    radial = (radial + [0.0, 0.0, 0.0])[:3]
    tangential = (tangential + [0.0, 0.0])[:2]
    k = np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)
    d = np.array([radial[0], radial[1], tangential[0], tangential[1], radial[2]],
                 dtype=np.float64)
    return CameraIntrinsics(camera_matrix=k, dist_coeffs=d, resolution=(w, h))


def _number(value: object) -> float | None:
    """A JSON number as float, or None for anything else (text, bool, null, an integer too
    large for a float)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def read_gazedata(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Parse ``gazedata.gz``.

    Returns:
        ``time (N,)`` seconds, ``gaze2d (N, 2)`` normalised (NaN for lost samples), and notes
        about skipped damage (a truncated last line or gzip stream).

    Raises:
        GazevosError: not gzip, a malformed line before the end, or no gaze samples.
    """
    times: list[float] = []
    points: list[tuple[float, float]] = []
    notes: list[str] = []
    bad_line: int | None = None
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    if bad_line is not None:  # damage before the last line
                        raise GazevosError(f"line {bad_line} is not valid JSON", path) from None
                    bad_line = lineno
                    continue
                if bad_line is not None:
                    raise GazevosError(f"line {bad_line} is not valid JSON", path)
                if not isinstance(obj, dict) or obj.get("type", "gaze") != "gaze":
                    continue
                t = _number(obj.get("timestamp"))
                if t is None:
                    raise GazevosError(f"line {lineno} has no numeric timestamp", path)
                data = obj.get("data") or {}
                g2 = data.get("gaze2d") if isinstance(data, dict) else None
                xy = ((_number(g2[0]), _number(g2[1]))
                      if isinstance(g2, list) and len(g2) >= 2 else (None, None))
                if xy[0] is not None and xy[1] is not None:
                    points.append((xy[0], xy[1]))
                else:
                    points.append((np.nan, np.nan))
                times.append(t)
    except (gzip.BadGzipFile, zlib.error) as exc:
        if not times:
            raise GazevosError(f"not a readable gzip file ({exc.__class__.__name__})",
                               path) from exc
        notes.append(f"gzip stream damaged after {len(times)} samples; the rest was skipped")
    except EOFError:
        if not times:
            raise GazevosError("gzip file is truncated before any gaze sample", path) from None
        notes.append(f"gzip stream ends early after {len(times)} samples (recording cut off?)")
    except UnicodeDecodeError as exc:
        raise GazevosError("gaze data is not UTF-8 JSON text", path) from exc
    if bad_line is not None:
        notes.append(f"line {bad_line} (the last) is truncated JSON and was skipped")
    if not times:
        raise GazevosError("gaze data file holds no gaze samples", path)
    return (np.asarray(times, dtype=np.float64),
            np.asarray(points, dtype=np.float64).reshape(-1, 2), notes)


def read_tobii_g3(path: str | os.PathLike[str],
                  resolution: tuple[int, int] | None = None) -> Recording:
    """Read a Tobii Pro Glasses 3 recording folder.

    Args:
        path: the recording folder (holding ``gazedata.gz``), or the ``gazedata.gz`` file.
        resolution: scene ``(width, height)`` when there is neither a scene video nor a
            calibration in ``recording.g3``.

    Returns:
        A :class:`Recording` with ``format="tobii_g3"``; times in s since recording start.
    """
    root = as_path(path)
    folder = probe(root)
    if folder is None:
        raise GazevosError(f"not a Tobii Glasses 3 recording: needs {LOOKS_FOR}", root)
    info_file = folder / "recording.g3"
    info = read_json(info_file) if info_file.is_file() else {}
    scene_info = info.get("scenecamera") if isinstance(info.get("scenecamera"), dict) else {}
    gaze_info = info.get("gaze") if isinstance(info.get("gaze"), dict) else {}
    gaze_file = folder / str(gaze_info.get("file") or "gazedata.gz")
    video = folder / str(scene_info.get("file") or "scenevideo.mp4")
    video_path = video if path_kind(video) == "file" else None
    if path_kind(gaze_file) != "file":
        raise GazevosError("gaze data file (named in recording.g3) not found", gaze_file)

    intrinsics = None
    calib = scene_info.get("camera-calibration")
    if isinstance(calib, dict):
        intrinsics = intrinsics_from_g3(calib, info_file)
    vres = video_resolution(video_path) if video_path is not None else None
    res, res_source = resolve_resolution(
        vres, resolution, None if intrinsics is None else intrinsics.resolution, folder,
        "camera calibration in recording.g3")
    note = None
    if intrinsics is not None and intrinsics.resolution != res:
        note = (f"calibration is for {intrinsics.resolution[0]}x{intrinsics.resolution[1]}, "
                f"video is {res[0]}x{res[1]}: intrinsics dropped")
        intrinsics = None

    t, g2, notes = read_gazedata(gaze_file)
    w, h = res
    samples = gaze_table(t, g2[:, 0] * w, g2[:, 1] * h,
                         np.where(np.isfinite(g2).all(axis=1), 1.0, 0.0), gaze_file)
    frame_times = (video_frame_times(video_path) if video_path is not None
                   else np.zeros(0, dtype=np.float64))
    meta: dict[str, object] = {"device": "Tobii Pro Glasses 3", "gaze_file": str(gaze_file),
                               "resolution_source": res_source,
                               "frame_times_source": "video pts" if video_path else None}
    for key in ("name", "created", "duration"):
        if key in info:
            meta[f"recording_{key}"] = info[key]
    if note:
        meta["intrinsics_note"] = note
    return Recording(format="tobii_g3", root=root, video_path=video_path,
                     frame_times=frame_times, resolution=res, gaze=samples,
                     intrinsics=intrinsics, meta=meta,
                     notes=[f"{gaze_file.name}: {n}" for n in notes])
