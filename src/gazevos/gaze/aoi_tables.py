"""All per-recording AOI tables (:mod:`gazevos.gaze.aoi`) from an ``annotate`` output folder.

:func:`recording_tables` reads ``summary.json`` (the objects), ``gaze_samples`` and
``fixations`` (Parquet, else CSV) and ``masks/`` (one frame at a time) and returns tidy
tables:

* ``object_states``: frame, time, duration, object_id, object, state, area_px;
* ``aoi_metrics``: object_id, object, mode (strict/tolerant), metric, value;
* ``visits``: unit (fixations/samples), mode, object_id, object, start, end, start_s, end_s
  (s from the recording's first frame), duration, n_merged;
* ``aoi_transitions``: from_object, from_name, to_object, to_name, count, probability;
* ``entropy``: metric, value (stationary/transition entropy and their normalised forms).

Frame times come from the recording when it is given (``frame_times``); otherwise they are
estimated from the gaze table: a frame starts at the time of its first sample, frames
without samples are interpolated linearly by index (an estimate: exact frame times need the
recording).
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.gaze.aoi import (
    AoiConfig,
    gaze_entropy,
    mask_stats,
    name_objects,
    object_metrics,
    object_states,
    transition_counts,
    visits_table,
)
from gazevos.gaze.metrics import write_tables

#: Names of the tables :func:`recording_tables` returns (and :func:`write_recording_tables`
#: writes as ``NAME.csv``/``NAME.parquet``).
TABLES = ("object_states", "aoi_metrics", "visits", "aoi_transitions", "entropy")


def read_table(folder: str | os.PathLike[str], stem: str) -> pd.DataFrame:
    """``folder/stem.parquet`` (or ``.csv`` when there is no Parquet file)."""
    base = Path(folder) / stem
    if base.with_suffix(".parquet").is_file():
        return pd.read_parquet(base.with_suffix(".parquet"))
    if base.with_suffix(".csv").is_file():
        return pd.read_csv(base.with_suffix(".csv"))
    raise GazevosError(f"no {stem}.parquet or {stem}.csv (not an annotate output folder?)",
                       folder)


def read_summary(folder: str | os.PathLike[str]) -> dict:
    """The ``summary.json`` of an annotate output folder."""
    path = Path(folder) / "summary.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GazevosError(f"cannot read the run summary ({exc.__class__.__name__})",
                           path) from None


def object_names(summary: dict) -> dict[int, str]:
    """``object id -> name`` from an annotate summary."""
    return {int(o["id"]): str(o["name"]) for o in summary.get("objects", [])}


def estimate_frame_times(samples: pd.DataFrame, n_frames: int) -> np.ndarray:
    """Frame start times from the gaze table (see the module docstring)."""
    s = samples[samples["frame"] >= 0]
    first = s.groupby("frame")["time"].min()
    first = first[first.index < n_frames]
    if len(first) < 2:
        raise GazevosError("too few gaze samples on frames to estimate the frame times")
    idx = np.arange(n_frames)
    return _extrapolate(idx.astype(float), first.index.to_numpy(float), first.to_numpy(float))


def _extrapolate(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Linear interpolation that extends the end segments' slopes beyond ``xp``."""
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y


class MaskStatsReader:
    """``frame -> (H, W) label map`` from a masks folder (None if absent) that remembers
    each frame's :func:`~gazevos.gaze.aoi.mask_stats`, so the AOI tables need not read the
    masks again after the gaze mapping has (:meth:`stats`).

    With ``n_frames`` the masks ``0 .. n_frames - 1`` are read (and their stats computed)
    ahead in a thread, for callers that ask for frames in increasing order; call
    :meth:`close` when done.

    Args:
        masks_dir: the folder of ``NNNNN.png`` masks.
        object_ids: the objects, ascending.
        border_px: :attr:`AoiConfig.border_px` of the tables.
        n_frames: read this many masks ahead in a thread (None: read on demand only).
    """

    def __init__(self, masks_dir: str | os.PathLike[str], object_ids: Sequence[int],
                 border_px: int = AoiConfig.border_px, n_frames: int | None = None) -> None:
        self.folder = Path(masks_dir)
        self.ids = sorted(int(i) for i in object_ids)
        self.border_px = border_px
        self._stats: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._next = 0                       # the next frame the read-ahead will give
        self._ahead = None
        self._it: Iterator[tuple[int, np.ndarray | None, object]] | None = None
        if n_frames:
            from gazevos.io.pipeline import Prefetch

            self._ahead = Prefetch(self._read_all(n_frames), 4)
            self._it = iter(self._ahead)

    def _read(self, index: int) -> tuple[np.ndarray | None, object]:
        from gazevos.io import read_mask

        path = self.folder / f"{index:05d}.png"
        if not path.is_file():
            return None, None
        labels = read_mask(path)
        return labels, mask_stats(labels, self.ids, self.border_px)

    def _read_all(self, n: int, workers: int = 2, window: int = 8
                  ) -> Iterator[tuple[int, np.ndarray | None, object]]:
        """Frames ``0 .. n - 1`` in order, read by ``workers`` threads at most ``window``
        frames ahead (inflating a PNG and counting pixels release the interpreter lock; the
        gaze stage runs after tracking, when both cores are free)."""
        from concurrent.futures import Future, ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="gazevos-masks") as pool:
            pending: deque[tuple[int, Future[tuple[np.ndarray | None, object]]]] = deque()
            for i in range(n):
                pending.append((i, pool.submit(self._read, i)))
                if len(pending) >= window:
                    j, done = pending.popleft()
                    yield (j, *done.result())
            while pending:
                j, done = pending.popleft()
                yield (j, *done.result())

    def __call__(self, index: int) -> np.ndarray | None:
        while self._it is not None and self._next <= index:
            try:
                j, labels, st = next(self._it)
            except StopIteration:
                self._it = None
                break
            self._next = j + 1
            if st is not None:
                self._stats[j] = st  # type: ignore[assignment]
            if j == index:
                return labels
        labels, st = self._read(index)
        if st is not None:
            self._stats[index] = st  # type: ignore[assignment]
        return labels

    def stats(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(area, touches)`` of frame ``index`` (read now if it was not read before)."""
        if index not in self._stats and self(index) is None:
            raise GazevosError(f"mask of frame {index} is missing", self.folder)
        return self._stats.pop(index)

    def close(self) -> None:
        """Stop reading ahead."""
        if self._ahead is not None:
            self._ahead.close()
            self._ahead, self._it = None, None


def recording_tables(folder: str | os.PathLike[str], frame_times: np.ndarray | None = None,
                     config: AoiConfig | None = None,
                     frame_stats: Callable[[int], tuple[np.ndarray, np.ndarray]] | None = None
                     ) -> dict[str, pd.DataFrame]:
    """The AOI tables of one annotated recording (see the module docstring).

    Args:
        folder: an ``annotate`` output folder.
        frame_stats: ``frame -> mask_stats`` of the object ids (ascending) with
            ``config.border_px``, when the caller already has them (the masks are then
            not read again).
        frame_times: the recording's frame timestamps (None: estimated from the samples).
        config: metric settings.
    """
    from gazevos.io import read_mask

    cfg = config or AoiConfig()
    folder = Path(folder)
    summary = read_summary(folder)
    names = object_names(summary)
    ids = sorted(names)
    samples = read_table(folder, "gaze_samples")
    fixations = read_table(folder, "fixations")
    n_frames = int(summary.get("frames", 0))
    masks = folder / "masks"
    if frame_times is None:
        frame_times = estimate_frame_times(samples, n_frames)
    frame_times = np.asarray(frame_times, dtype=np.float64)[:n_frames]
    if len(frame_times) != n_frames:
        raise GazevosError(f"{len(frame_times)} frame times for {n_frames} frames", folder)
    for i in range(n_frames):
        if not (masks / f"{i:05d}.png").is_file():
            raise GazevosError(f"mask of frame {i} is missing", masks)
    if frame_stats is not None:
        states = object_states(None, ids, frame_times, cfg,
                               stats=(frame_stats(i) for i in range(n_frames)))
    else:
        states = object_states((read_mask(masks / f"{i:05d}.png") for i in range(n_frames)),
                               ids, frame_times, cfg)
    t0 = float(frame_times[0]) if n_frames else 0.0
    metrics = object_metrics(samples, fixations, states, t0, ids, cfg)
    visits = visits_table(samples, fixations, cfg)
    visits.insert(visits.columns.get_loc("end") + 1, "start_s", visits["start"] - t0)
    visits.insert(visits.columns.get_loc("start_s") + 1, "end_s", visits["end"] - t0)
    fx = fixations[fixations["hit"] != "invalid"].sort_values("start", kind="stable")
    trans = transition_counts(fx["object_id"].to_numpy(np.int64), cfg.include_background,
                              cfg.include_self)
    ent = gaze_entropy(trans)
    return {
        "object_states": name_objects(states, names),
        "aoi_metrics": name_objects(metrics, names),
        "visits": name_objects(visits, names),
        "aoi_transitions": name_objects(trans, names, ("from_object", "to_object")),
        "entropy": pd.DataFrame({"metric": list(ent), "value": list(ent.values())}),
    }


def write_recording_tables(tables: dict[str, pd.DataFrame], out_dir: str | os.PathLike[str]
                           ) -> list[Path]:
    """Write :func:`recording_tables` as CSV + Parquet into ``out_dir`` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_tables(out, {k: v.reset_index(drop=True) for k, v in tables.items()})
