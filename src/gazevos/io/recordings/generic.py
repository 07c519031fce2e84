"""A generic gaze table plus a scene video, for devices without a dedicated reader.

The table is CSV (``,`` or ``;``) or TSV with a header; column names are matched without
regard to case or surrounding spaces:

* time: ``timestamp`` or ``time`` (unit set by ``time_unit``, default seconds), on the clock
  of the video's presentation timestamps (0 = first frame for most files) after adding
  ``time_offset`` seconds;
* position: ``x`` and ``y`` (or ``gaze_x`` / ``gaze_y``), top-left origin, either in pixels or
  normalised to 0..1 (``coords``: ``"px"``, ``"norm"``, or ``"auto"``: normalised when every
  finite value lies within [-0.5, 1.5], a range no real pixel track stays in);
  empty cells / ``nan`` mean no position;
* optional ``confidence`` in 0..1 (1.0 when absent).

Frame times are the video's own presentation timestamps.  Given a folder, it must hold
exactly one such table and one video.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.recordings._common import (
    as_path,
    find_videos,
    gaze_table,
    numeric,
    read_table,
    resolve_resolution,
    video_frame_times,
    video_resolution,
)
from gazevos.io.recordings.base import Recording

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
LOOKS_FOR = ("generic gaze table (.csv/.tsv with timestamp|time, x, y columns) "
             "and one video")
ALIASES = {"time": ("timestamp", "time"), "x": ("x", "gaze_x"), "y": ("y", "gaze_y"),
           "confidence": ("confidence", "conf")}
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
NORM_RANGE = (-0.5, 1.5)


def _header(path: Path) -> list[str]:
    try:
        with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            line = fh.readline()
    except OSError:
        return []
    sep = "\t" if "\t" in line else (";" if line.count(";") > line.count(",") else ",")
    return [c.strip().lower() for c in next(csv.reader([line], delimiter=sep), [])]


def _match_columns(columns: list[str]) -> dict[str, str] | None:
    lower = {c.strip().lower(): c for c in columns}
    found = {}
    for key, names in ALIASES.items():
        hit = next((lower[n] for n in names if n in lower), None)
        if hit is None and key != "confidence":
            return None
        if hit is not None:
            found[key] = hit
    return found


def _tables(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in
                  TABLE_SUFFIXES and _match_columns(_header(p)) is not None)


def probe(path: Path) -> Path | None:
    """The gaze table for ``path`` (a table file, or a folder with one table + one video)."""
    if path.is_file():
        ok = path.suffix.lower() in TABLE_SUFFIXES and _match_columns(_header(path)) is not None
        return path if ok else None
    if path.is_dir():
        tables = _tables(path)
        if len(tables) == 1 and len(find_videos(path)) == 1:
            return tables[0]
    return None


def read_generic(path: str | os.PathLike[str], video: str | os.PathLike[str] | None = None,
                 coords: str = "auto", time_unit: str = "s", time_offset: float = 0.0,
                 resolution: tuple[int, int] | None = None) -> Recording:
    """Read a generic gaze table and its scene video.

    Args:
        path: the table, or a folder with exactly one table and one video.
        video: the scene video (default: the one video beside the table).
        coords: ``"px"``, ``"norm"`` or ``"auto"`` (see the module docstring).
        time_unit: unit of the time column: ``s``, ``ms``, ``us`` or ``ns``.
        time_offset: seconds added to every gaze time to put it on the video clock.
        resolution: scene ``(width, height)`` when there is no video.

    Returns:
        A :class:`Recording` with ``format="generic"``.
    """
    root = as_path(path)
    if coords not in ("auto", "px", "norm"):
        raise GazevosError(f"coords must be auto, px or norm, got '{coords}'")
    if time_unit not in TIME_UNITS:
        raise GazevosError(f"time_unit must be one of {', '.join(TIME_UNITS)}, got "
                           f"'{time_unit}'")
    if root.is_dir():
        tables = _tables(root)
        if len(tables) != 1:
            raise GazevosError(f"expected one gaze table (.csv/.tsv with timestamp, x, y "
                               f"columns) in the folder, found {len(tables)}", root)
        table = tables[0]
    else:
        table = root
    folder = table.parent
    sep = "\t" if table.suffix.lower() == ".tsv" else None
    df = read_table(table, sep=sep, what="gaze table")
    cols = _match_columns(list(df.columns))
    if cols is None:
        raise GazevosError("gaze table needs columns timestamp (or time), x and y; found "
                           f"{', '.join(map(str, df.columns[:12]))}", table)

    if video is not None:
        video_path: Path | None = Path(video)
        if not video_path.is_file() and (folder / video_path).is_file():
            video_path = folder / video_path
        if not video_path.is_file():
            raise GazevosError("scene video not found", video_path)
    else:
        videos = find_videos(folder)
        if len(videos) > 1:
            raise GazevosError(f"several videos beside the gaze table "
                               f"({', '.join(v.name for v in videos)}); pass video=", folder)
        video_path = videos[0] if videos else None
    vres = video_resolution(video_path) if video_path is not None else None
    res, res_source = resolve_resolution(vres, resolution, None, table)

    t = numeric(df, cols["time"], table, "gaze table") * TIME_UNITS[time_unit] + time_offset
    x = numeric(df, cols["x"], table, "gaze table")
    y = numeric(df, cols["y"], table, "gaze table")
    conf = (numeric(df, cols["confidence"], table, "gaze table")
            if "confidence" in cols else 1.0)
    finite = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)]])
    if coords == "auto":
        looks_norm = finite.size > 0 and finite.min() >= NORM_RANGE[0] and \
            finite.max() <= NORM_RANGE[1]
        used = "norm" if looks_norm else "px"
    else:
        used = coords
    if used == "norm":
        x, y = x * res[0], y * res[1]
    samples = gaze_table(t, x, y, conf, table)
    frame_times = (video_frame_times(video_path) if video_path is not None
                   else np.zeros(0, dtype=np.float64))
    meta: dict[str, object] = {
        "gaze_file": str(table), "coords": used,
        "coords_source": "detected" if coords == "auto" else "stated",
        "time_unit": time_unit, "time_offset": float(time_offset),
        "resolution_source": res_source, "columns": {k: str(v) for k, v in cols.items()},
    }
    return Recording(format="generic", root=root, video_path=video_path,
                     frame_times=frame_times, resolution=res, gaze=samples, meta=meta)

