"""Helpers shared by the recording readers: tables, videos, and building the gaze table."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import av
import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.io.recordings.base import FIXATION_COLUMNS, GAZE_COLUMNS
from gazevos.io.video import VIDEO_SUFFIXES, path_kind, probe_video


def read_table(path: Path, required: Sequence[str] = (), sep: str | None = ",",
               what: str = "table", allow_no_rows: bool = False) -> pd.DataFrame:
    """Read a CSV/TSV file, failing with one line that names the file.

    Args:
        path: the file.
        required: columns that must be present (exact names).
        sep: field separator; ``None`` sniffs it (``,``, tab or ``;``).
        what: what the file is, for messages (``gaze file``).
        allow_no_rows: accept a header with no data rows.

    Raises:
        GazevosError: missing, empty (0 bytes), unparsable, without the required columns,
            or (unless ``allow_no_rows``) without data rows.
    """
    if not path.is_file():
        raise GazevosError(f"{what} not found", path)
    if path.stat().st_size == 0:
        raise GazevosError(f"{what} is empty (0 bytes): the export holds no data", path)
    try:
        if sep is None:
            df = pd.read_csv(path, sep=None, engine="python")
        else:
            df = pd.read_csv(path, sep=sep, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise GazevosError(f"{what} holds no header or data", path) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise GazevosError(f"cannot parse {what} ({exc.__class__.__name__}: "
                           f"{str(exc).splitlines()[0][:120]})", path) from exc
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = ", ".join(df.columns[:12]) + (", ..." if len(df.columns) > 12 else "")
        raise GazevosError(f"{what} lacks column(s) {', '.join(repr(c) for c in missing)} "
                           f"(found: {found})", path)
    if len(df) == 0 and not allow_no_rows:
        raise GazevosError(f"{what} has a header but no data rows", path)
    return df


def numeric(df: pd.DataFrame, column: str, path: Path, what: str = "table") -> np.ndarray:
    """A column as float64; non-numeric cells (``nan``, empty) become NaN, other text errors."""
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    if values.isna().sum() == raw.isna().sum():
        return values.to_numpy(dtype=np.float64)
    blank = raw.astype(str).str.strip().str.lower().isin(["", "nan", "none", "null", "na", "n/a"])
    bad = values.isna() & raw.notna() & ~blank
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise GazevosError(f"{what} column '{column}' has a non-numeric value "
                           f"{df[column].iloc[row]!r} in data row {row + 1}", path)
    return values.to_numpy(dtype=np.float64)


def gaze_table(time: np.ndarray, x: np.ndarray, y: np.ndarray,
               confidence: np.ndarray | float = 1.0, path: Path | None = None) -> pd.DataFrame:
    """Build :attr:`Recording.gaze` (columns ``time, x, y, confidence``), sorted by time.

    Args:
        time: ``(N,)`` seconds; must be finite.
        x, y: ``(N,)`` top-left-origin pixels, NaN where the device gave no position.
        confidence: ``(N,)`` in 0..1, or one value for all rows.
        path: the file the samples came from, for error messages.

    Raises:
        GazevosError: a timestamp is missing or not finite (the sample could not be placed).
    """
    time = np.asarray(time, dtype=np.float64)
    if not np.isfinite(time).all():
        row = int(np.flatnonzero(~np.isfinite(time))[0])
        raise GazevosError(f"gaze sample in data row {row + 1} has no valid timestamp", path)
    conf = np.broadcast_to(np.asarray(confidence, dtype=np.float64), time.shape)
    df = pd.DataFrame({"time": time, "x": np.asarray(x, dtype=np.float64),
                       "y": np.asarray(y, dtype=np.float64), "confidence": conf.copy()},
                      columns=list(GAZE_COLUMNS))
    if len(df) and not (np.diff(time) >= 0).all():
        df = df.sort_values("time", kind="stable")
    return df.reset_index(drop=True)


def fixation_table(fid: np.ndarray, start: np.ndarray, end: np.ndarray, x: np.ndarray,
                   y: np.ndarray, path: Path | None = None) -> pd.DataFrame:
    """Build :attr:`Recording.fixations` (``fixation_id, start, end, x, y``), sorted by start.

    Raises:
        GazevosError: an id is not an integer, or a start or end time is not finite.
    """
    ids = pd.to_numeric(pd.Series(np.asarray(fid).reshape(-1)), errors="coerce").to_numpy(
        dtype=np.float64)
    ok = np.isfinite(ids) & (ids == np.round(ids)) & (np.abs(ids) < 2.0 ** 53)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise GazevosError(f"fixation in data row {row + 1} has no integer id "
                           f"({np.asarray(fid).reshape(-1)[row]!r})", path)
    for name, values in (("start", start), ("end", end)):
        bad = ~np.isfinite(np.asarray(values, dtype=np.float64))
        if bad.any():
            raise GazevosError(f"fixation in data row {int(np.flatnonzero(bad)[0]) + 1} has "
                               f"no valid {name} time", path)
    df = pd.DataFrame({"fixation_id": ids.astype(np.int64),
                       "start": np.asarray(start, dtype=np.float64),
                       "end": np.asarray(end, dtype=np.float64),
                       "x": np.asarray(x, dtype=np.float64),
                       "y": np.asarray(y, dtype=np.float64)}, columns=list(FIXATION_COLUMNS))
    return df.sort_values("start", kind="stable").reset_index(drop=True)


def check_frame_times(frame_times: np.ndarray, path: Path) -> np.ndarray:
    """Validate scene-frame timestamps: ``(F,)`` finite and non-decreasing; returns float64."""
    raw = np.asarray(frame_times)
    if raw.dtype.kind not in "biuf":
        raise GazevosError(f"frame timestamps are not real numbers (dtype {raw.dtype})", path)
    ft = raw.astype(np.float64).reshape(-1)
    if not np.isfinite(ft).all():
        raise GazevosError("frame timestamps contain missing or non-finite values", path)
    if ft.size > 1 and not (np.diff(ft) >= 0).all():
        i = int(np.flatnonzero(np.diff(ft) < 0)[0])
        raise GazevosError(f"frame timestamps go backwards at frame {i + 1} "
                           f"({ft[i]:.6f} then {ft[i + 1]:.6f})", path)
    return ft


def video_resolution(path: Path) -> tuple[int, int]:
    """``(width, height)`` of a video from its header."""
    info = probe_video(path)
    return int(info["width"]), int(info["height"])


def video_frame_times(path: Path) -> np.ndarray:
    """Presentation times (s) of every frame of a video, by demuxing (no decoding).

    Packets are read in file order and their pts sorted, so B-frame reordering is handled;
    the values equal :attr:`gazevos.io.Frame.time` of the decoded frames.

    Returns:
        ``(F,)`` float64 seconds, ascending.
    """
    if not path.is_file():
        raise GazevosError("video file not found", path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise GazevosError("file has no video stream", path)
            stream = container.streams.video[0]
            tb = stream.time_base
            pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
    except av.error.FFmpegError as exc:
        raise GazevosError(f"cannot read video ({exc.__class__.__name__})", path) from exc
    if not pts:
        raise GazevosError("video has no frames", path)
    return np.sort(np.asarray(pts, dtype=np.int64)).astype(np.float64) * float(tb)


def find_videos(folder: Path, stems: Iterable[str] | None = None) -> list[Path]:
    """Video files in ``folder`` (optionally only those whose stem is in ``stems``), sorted."""
    if not folder.is_dir():
        return []
    wanted = None if stems is None else set(stems)
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                  and not p.name.startswith(".") and (wanted is None or p.stem in wanted))


def read_json(path: Path) -> dict:
    """A JSON file holding an object, as a dict (one-line error otherwise)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GazevosError(f"cannot read JSON ({exc.__class__.__name__})", path) from exc
    if not isinstance(data, dict):
        raise GazevosError("expected a JSON object", path)
    return data


def as_path(path: str | os.PathLike[str]) -> Path:
    """``Path`` of an existing file or folder, or a one-line error (also for names the
    system refuses: too long, a NUL byte, a folder it may not look in)."""
    p = Path(path)
    if path_kind(p) == "missing":
        raise GazevosError("no such recording file or folder", p)
    return p


def resolve_resolution(video_res: tuple[int, int] | None,
                       option: tuple[int, int] | None,
                       fallback: tuple[int, int] | None,
                       path: Path, fallback_name: str = "camera intrinsics",
                       ) -> tuple[tuple[int, int], str]:
    """Pick the scene resolution: the video's, else the stated option, else a fallback.

    Returns:
        ``((width, height), source)`` where source is ``video``, ``option`` or
        ``fallback_name``.

    Raises:
        GazevosError: the option contradicts the video, or no source exists.
    """
    if option is not None:
        option = (int(option[0]), int(option[1]))
        if option[0] <= 0 or option[1] <= 0:
            raise GazevosError(f"resolution must be positive, got {option[0]}x{option[1]}")
    if video_res is not None:
        if option is not None and option != video_res:
            raise GazevosError(f"stated resolution {option[0]}x{option[1]} differs from the "
                               f"scene video's {video_res[0]}x{video_res[1]}", path)
        return video_res, "video"
    if option is not None:
        return option, "option"
    if fallback is not None:
        return (int(fallback[0]), int(fallback[1])), fallback_name
    raise GazevosError("cannot tell the scene-camera resolution (no scene video and no "
                       f"{fallback_name}); pass resolution=(W, H) (CLI: --resolution WxH)", path)
