"""Pupil Core recordings exported by Pupil Player (export format 2.x, Player 2.0-3.5).

Layout: ``<recording>/exports/<NNN>/`` holds ``gaze_positions.csv``, ``world.mp4``,
``world_timestamps.npy`` / ``.csv``, optionally ``fixations.csv`` and ``export_info.csv``;
the scene-camera intrinsics ``world.intrinsics`` (msgpack) sit in the recording folder, one or
two levels above the export folder.  Either folder may be given.

Conventions of the export, converted here:

* ``gaze_timestamp`` and the world timestamps are Pupil time in seconds (same clock).
* ``norm_pos_x/y`` are 0-1 with the origin at the bottom-left of the scene image, so
  ``x_px = norm_x * W`` and ``y_px = (1 - norm_y) * H``.
* Pupil Player's ``fixations.csv`` gives ``start_timestamp`` (s) and ``duration`` (ms).

Without a scene video (gaze-only exports) the resolution comes from the ``resolution`` option,
else from ``world.intrinsics`` when it holds exactly one camera; otherwise reading fails with a
message asking for ``resolution``.  Without world timestamps, ``frame_times`` is empty.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgpack
import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.recordings._common import (
    as_path,
    check_frame_times,
    fixation_table,
    gaze_table,
    numeric,
    read_table,
    resolve_resolution,
    video_resolution,
)
from gazevos.io.recordings.base import CameraIntrinsics, Recording

GAZE_FILE = "gaze_positions.csv"
#: What :func:`probe` looks for, in words (for "nothing matched" messages).
LOOKS_FOR = ("Pupil Core / Pupil Player export (gaze_positions.csv, or "
             "exports/NNN/gaze_positions.csv)")

_RES_KEY = re.compile(r"^\((\d+),\s*(\d+)\)$")


def _export_number(folder: Path) -> tuple[int, str]:
    return (int(folder.name), folder.name) if folder.name.isdigit() else (-1, folder.name)


def probe(path: Path) -> Path | None:
    """The export folder holding ``gaze_positions.csv`` for ``path``, or None.

    ``path`` may be the export folder, the recording folder (the newest ``exports/NNN`` that
    holds gaze is used), or the ``gaze_positions.csv`` file itself.
    """
    if path.is_file():
        return path.parent if path.name == GAZE_FILE else None
    if (path / GAZE_FILE).is_file():
        return path
    exports = path / "exports"
    if exports.is_dir():
        found = [d for d in exports.iterdir() if d.is_dir() and (d / GAZE_FILE).is_file()]
        if found:
            return max(found, key=_export_number)
    return None


def read_intrinsics_file(path: Path, resolution: tuple[int, int] | None = None
                         ) -> CameraIntrinsics | None:
    """Read a Pupil ``*.intrinsics`` msgpack file.

    The file maps ``"(W, H)"`` keys to ``{camera_matrix, dist_coefs, resolution, cam_type}``.
    The entry for ``resolution`` is returned; with ``resolution=None`` the file must hold a
    single camera.  Returns None when no entry matches ``resolution``.

    Raises:
        GazevosError: the file is not valid msgpack or lacks the expected keys.
    """
    data = _unpack_intrinsics(path)
    if not isinstance(data, dict):
        raise GazevosError("camera intrinsics file is not a msgpack map", path)
    entries = {}
    for key, value in data.items():
        res = _res_key(key)
        if res is not None and isinstance(value, dict):
            entries[res] = value
    if not entries:
        raise GazevosError("camera intrinsics file holds no '(W, H)' camera entry", path)
    if resolution is None:
        if len(entries) != 1:
            return None
        resolution = next(iter(entries))
    entry = entries.get((int(resolution[0]), int(resolution[1])))
    if entry is None:
        return None
    try:
        k = np.asarray(entry["camera_matrix"], dtype=np.float64).reshape(3, 3)
        d = np.asarray(entry["dist_coefs"], dtype=np.float64).reshape(-1)
    except (KeyError, ValueError, TypeError, OverflowError) as exc:
        raise GazevosError(f"camera intrinsics entry {resolution} lacks a valid camera_matrix "
                           "or dist_coefs", path) from exc
    if not (np.isfinite(k).all() and np.isfinite(d).all()):
        raise GazevosError(f"camera intrinsics entry {resolution} holds non-finite values",
                           path)
    model = str(entry.get("cam_type", "radial"))
    if model not in ("radial", "fisheye"):
        raise GazevosError(f"unknown camera model '{model}' in intrinsics", path)
    return CameraIntrinsics(camera_matrix=k, dist_coeffs=d,
                            resolution=(int(resolution[0]), int(resolution[1])), model=model)


def _unpack_intrinsics(path: Path) -> object:
    """The msgpack object in ``path`` (one-line error when it is not msgpack)."""
    try:
        return msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    except (msgpack.UnpackException, ValueError, TypeError, OSError) as exc:
        # TypeError: a map key msgpack cannot hash (a list or a map)
        raise GazevosError(f"cannot read camera intrinsics ({exc.__class__.__name__})",
                           path) from exc


def _res_key(key: object) -> tuple[int, int] | None:
    """``(W, H)`` of an intrinsics key ``"(W, H)"`` with a plausible positive size."""
    m = _RES_KEY.match(str(key))
    if not m:
        return None
    w, h = int(m.group(1)), int(m.group(2))
    return (w, h) if 0 < w < 10 ** 6 and 0 < h < 10 ** 6 else None


def _intrinsics_resolutions(path: Path) -> list[tuple[int, int]]:
    data = _unpack_intrinsics(path)
    keys = (_res_key(key) for key in (data if isinstance(data, dict) else ()))
    return [k for k in keys if k is not None]


def _find_up(folder: Path, name: str, levels: int = 2) -> Path | None:
    for d in [folder, *list(folder.parents)[:levels]]:
        if (d / name).is_file():
            return d / name
    return None


def read_world_timestamps(export: Path) -> tuple[np.ndarray | None, Path | None]:
    """World-frame timestamps (s, Pupil time) from ``world_timestamps.npy`` or ``.csv``."""
    npy = export / "world_timestamps.npy"
    if npy.is_file():
        try:
            ts = np.load(npy, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise GazevosError(f"cannot read frame timestamps ({exc.__class__.__name__})",
                               npy) from exc
        return check_frame_times(ts, npy), npy
    csv = export / "world_timestamps.csv"
    if csv.is_file():
        df = read_table(csv, what="frame timestamp file")
        cols = [c for c in df.columns if "timestamp" in c.lower()] or [df.columns[0]]
        return check_frame_times(numeric(df, cols[0], csv, "frame timestamp file"), csv), csv
    return None, None


def _read_key_value(path: Path) -> dict[str, str]:
    try:
        df = read_table(path, what="export info file", allow_no_rows=True)
    except GazevosError:
        return {}
    if df.shape[1] < 2:
        return {}
    return {str(k): str(v) for k, v in zip(df.iloc[:, 0], df.iloc[:, 1], strict=True)}


def read_pupil_core(path: str | os.PathLike[str],
                    resolution: tuple[int, int] | None = None) -> Recording:
    """Read a Pupil Player export of a Pupil Core recording.

    Args:
        path: the export folder (``.../exports/000``), the recording folder, or the
            ``gaze_positions.csv`` file.
        resolution: scene ``(width, height)`` for exports without ``world.mp4`` (ignored in
            favour of the video when there is one; an error if it contradicts the video).

    Returns:
        A :class:`Recording` with ``format="pupil_core"``; gaze ``confidence`` is Pupil's.

    Raises:
        GazevosError: no export found, empty or malformed files, unknown resolution.
    """
    root = as_path(path)
    export = probe(root)
    if export is None:
        raise GazevosError(f"not a Pupil Player export: no {GAZE_FILE} here or in "
                           "exports/NNN/", root)
    gaze_file = export / GAZE_FILE
    gaze = read_table(gaze_file, what="gaze file")
    tcol = "gaze_timestamp" if "gaze_timestamp" in gaze.columns else "timestamp"
    for col in (tcol, "norm_pos_x", "norm_pos_y"):
        if col not in gaze.columns:
            raise GazevosError(f"gaze file lacks column '{col}' (is this a Pupil Player "
                               "gaze_positions.csv?)", gaze_file)

    video = export / "world.mp4"
    video_path = video if video.is_file() else None
    vres = video_resolution(video_path) if video_path is not None else None
    intr_file = _find_up(export, "world.intrinsics")
    fallback = None
    if intr_file is not None:
        res_list = _intrinsics_resolutions(intr_file)
        fallback = res_list[0] if len(res_list) == 1 else None
    res, res_source = resolve_resolution(vres, resolution, fallback, export,
                                         "world.intrinsics with a single camera")
    intrinsics = read_intrinsics_file(intr_file, res) if intr_file is not None else None

    w, h = res
    t = numeric(gaze, tcol, gaze_file, "gaze file")
    nx = numeric(gaze, "norm_pos_x", gaze_file, "gaze file")
    ny = numeric(gaze, "norm_pos_y", gaze_file, "gaze file")
    conf = (numeric(gaze, "confidence", gaze_file, "gaze file")
            if "confidence" in gaze.columns else np.ones_like(t))
    samples = gaze_table(t, nx * w, (1.0 - ny) * h, conf, gaze_file)

    frame_times, ts_file = read_world_timestamps(export)
    if frame_times is None:
        frame_times = np.zeros(0, dtype=np.float64)

    fixations = None
    fix_file = export / "fixations.csv"
    if fix_file.is_file() and fix_file.stat().st_size > 0:
        fx = read_table(fix_file, required=("id", "start_timestamp", "duration", "norm_pos_x",
                                            "norm_pos_y"),
                        what="fixation file", allow_no_rows=True)
        start = numeric(fx, "start_timestamp", fix_file, "fixation file")
        dur_ms = numeric(fx, "duration", fix_file, "fixation file")
        fixations = fixation_table(fx["id"].to_numpy(), start, start + dur_ms / 1000.0,
                                   numeric(fx, "norm_pos_x", fix_file, "fixation file") * w,
                                   (1.0 - numeric(fx, "norm_pos_y", fix_file,
                                                  "fixation file")) * h, fix_file)

    meta: dict[str, object] = {
        "device": "Pupil Core", "export_folder": str(export), "gaze_file": str(gaze_file),
        "frame_timestamps_file": None if ts_file is None else str(ts_file),
        "resolution_source": res_source,
        "intrinsics_file": None if intr_file is None else str(intr_file),
    }
    if intr_file is not None and intrinsics is None:
        meta["intrinsics_note"] = f"no intrinsics for {w}x{h} in {intr_file.name}"
    info = _read_key_value(export / "export_info.csv")
    if info:
        meta["export_info"] = info
    return Recording(format="pupil_core", root=root, video_path=video_path,
                     frame_times=frame_times, resolution=res, gaze=samples,
                     intrinsics=intrinsics, fixations=fixations, meta=meta)
