"""Area-of-interest (AOI) metrics per object, transitions between objects, and table writers.

Definitions (objects are the ids of the mapped samples and fixations; 0 is background):

* **sample duration**: time to the next sample of the gaze table (any sample), capped at
  ``max_sample_duration``; the last sample gets the median of the others (capped too).
* **dwell time**: sum of the durations of the valid samples mapped to the object
  (``hit`` ``inside`` or ``near``; background: ``none``).
* **fixations**: fixations whose majority object (:func:`gazevos.gaze.mapping.aggregate_fixations`)
  is the object; total and mean of their durations; **first fixation**: the earliest.
* **time to first fixation**: start of the first fixation on the object minus ``t0`` (the
  start of the recording or video; default the first gaze sample).
* **visits**: a visit is a maximal run of consecutive fixations on the object, in time order;
  a fixation on another object or on the background ends it, saccades between fixations and
  fixations without usable samples (``hit == "invalid"``/``"unmapped"``) do not.  The visit
  lasts from its first fixation's start to its last fixation's end.  **revisits** = visits - 1
  (0 when never visited).
* **transitions**: counts of consecutive fixation pairs ``(from, to)`` (skipping fixations
  without usable samples); the diagonal counts refixations of the same object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.io.atomic import atomic_write

#: Columns of :func:`aoi_metrics`.
AOI_COLUMNS = ("object_id", "dwell_time", "n_samples", "n_fixations", "total_fixation_duration",
               "mean_fixation_duration", "time_to_first_fixation", "first_fixation_duration",
               "n_visits", "n_revisits", "total_visit_duration")
_USABLE = ("inside", "near", "none")


@dataclass(frozen=True)
class MetricsConfig:
    """AOI metric settings.

    Attributes:
        max_sample_duration: cap on one sample's duration (s), so that gaps in the data do not
            count as dwell.
        include_background: add a row for object 0 (background) to the AOI table and keep
            background fixations as a state in the transition matrix.
    """

    max_sample_duration: float = 0.05
    include_background: bool = True


def sample_durations(times: np.ndarray, max_sample_duration: float = 0.05) -> np.ndarray:
    """``(N,)`` duration of each sample: time to the next one, capped (see module docstring)."""
    t = np.asarray(times, dtype=np.float64)
    if len(t) == 0:
        return np.zeros(0)
    if len(t) == 1:
        return np.zeros(1)
    d = np.diff(t)
    last = float(np.median(d))
    return np.minimum(np.append(d, last), max_sample_duration)


def _visits(fix_objects: np.ndarray, starts: np.ndarray, ends: np.ndarray
            ) -> list[tuple[int, float, float]]:
    """Runs ``(object, start, end)`` of consecutive fixations on the same object."""
    runs: list[tuple[int, float, float]] = []
    for o, a, b in zip(fix_objects, starts, ends, strict=True):
        if runs and runs[-1][0] == o:
            runs[-1] = (o, runs[-1][1], b)
        else:
            runs.append((int(o), float(a), float(b)))
    return runs


def _usable_fixations(fixations: pd.DataFrame) -> pd.DataFrame:
    if "object_id" not in fixations.columns:
        raise GazevosError("fixation table has no 'object_id' (map fixations onto objects "
                           "first)")
    fx = fixations
    if "hit" in fx.columns:
        fx = fx[fx["hit"].isin(_USABLE)]
    return fx.sort_values("start", kind="stable")


def aoi_metrics(samples: pd.DataFrame, fixations: pd.DataFrame, t0: float | None = None,
                object_ids: Sequence[int] | None = None,
                config: MetricsConfig | None = None) -> pd.DataFrame:
    """Per-object AOI metrics (definitions in the module docstring).

    Args:
        samples: mapped gaze samples (``time``, ``object_id``, ``hit``), time-ordered.
        fixations: mapped fixations (``start``, ``end``, ``duration``, ``object_id``, ``hit``).
        t0: time origin for time to first fixation (s); None: the first sample's time.
        object_ids: objects to report even when never looked at (e.g. every tracked object).
        config: settings.

    Returns:
        One row per object (ascending id), columns :data:`AOI_COLUMNS`; times in seconds,
        ``time_to_first_fixation``/``first_fixation_duration`` NaN when never fixated.
    """
    cfg = config or MetricsConfig()
    times = samples["time"].to_numpy(float)
    if len(times) > 1 and np.any(np.diff(times) < 0):
        raise GazevosError("gaze samples are not in time order")
    if t0 is None:
        t0 = float(times[0]) if len(times) else 0.0
    dur = sample_durations(times, cfg.max_sample_duration)
    hit = samples["hit"].to_numpy()
    obj = samples["object_id"].to_numpy(np.int64)
    on_obj = np.isin(hit, ("inside", "near")) | ((hit == "none") & (obj == 0))
    fx = _usable_fixations(fixations)
    f_obj = fx["object_id"].to_numpy(np.int64)
    f_start = fx["start"].to_numpy(float)
    f_end = fx["end"].to_numpy(float)
    f_dur = fx["duration"].to_numpy(float) if "duration" in fx.columns else f_end - f_start
    visits = _visits(f_obj, f_start, f_end)

    ids = set(int(i) for i in object_ids) if object_ids is not None else set()
    ids |= set(int(i) for i in np.unique(obj[on_obj])) | set(int(i) for i in np.unique(f_obj))
    if cfg.include_background:
        ids.add(0)
    else:
        ids.discard(0)
    rows = []
    for oid in sorted(ids):
        s_sel = on_obj & (obj == oid)
        f_sel = f_obj == oid
        n_fix = int(f_sel.sum())
        first = int(np.flatnonzero(f_sel)[0]) if n_fix else -1
        v = [r for r in visits if r[0] == oid]
        rows.append({
            "object_id": oid,
            "dwell_time": float(dur[s_sel].sum()),
            "n_samples": int(s_sel.sum()),
            "n_fixations": n_fix,
            "total_fixation_duration": float(f_dur[f_sel].sum()),
            "mean_fixation_duration": float(f_dur[f_sel].mean()) if n_fix else float("nan"),
            "time_to_first_fixation": float(f_start[first] - t0) if n_fix else float("nan"),
            "first_fixation_duration": float(f_dur[first]) if n_fix else float("nan"),
            "n_visits": len(v),
            "n_revisits": max(len(v) - 1, 0),
            "total_visit_duration": float(sum(b - a for _, a, b in v)),
        })
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in AOI_COLUMNS})
    return pd.DataFrame(rows, columns=list(AOI_COLUMNS))


def transition_matrix(fixations: pd.DataFrame, object_ids: Sequence[int] | None = None,
                      include_background: bool = True) -> pd.DataFrame:
    """Counts of transitions between the objects of consecutive fixations.

    Args:
        fixations: mapped fixations (``start``, ``object_id``, ``hit``).
        object_ids: objects to include even without fixations.
        include_background: keep background (0) fixations as a state; when False they are
            dropped first, so ``A -> background -> B`` counts as ``A -> B``.

    Returns:
        Square int64 DataFrame: index ``from_object``, columns ``to_object`` (ascending ids),
        cell = number of consecutive fixation pairs; the diagonal counts refixations.
    """
    fx = _usable_fixations(fixations)
    seq = fx["object_id"].to_numpy(np.int64)
    if not include_background:
        seq = seq[seq != 0]
    ids = set(int(i) for i in object_ids) if object_ids is not None else set()
    ids |= set(int(i) for i in np.unique(seq))
    if include_background and len(seq):
        ids.add(0)
    if not include_background:
        ids.discard(0)
    labels = sorted(ids)
    pos = {o: k for k, o in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for a, b in zip(seq[:-1], seq[1:], strict=True):
        m[pos[int(a)], pos[int(b)]] += 1
    return pd.DataFrame(m, index=pd.Index(labels, name="from_object"),
                        columns=pd.Index(labels, name="to_object"))


def transitions_long(matrix: pd.DataFrame) -> pd.DataFrame:
    """A transition matrix as rows ``from_object, to_object, count`` (non-zero cells)."""
    long = matrix.stack().rename("count").reset_index()
    long.columns = ["from_object", "to_object", "count"]
    return long[long["count"] > 0].reset_index(drop=True).astype(np.int64)


def write_table(df: pd.DataFrame, path: str | os.PathLike[str],
                formats: Sequence[str] = ("csv", "parquet"), index: bool = False) -> list[Path]:
    """Write ``df`` as ``path.csv`` and/or ``path.parquet``, each atomically.

    Args:
        df: the table.
        path: output path without suffix (a suffix, if given, is replaced).
        formats: ``csv`` and/or ``parquet`` (pyarrow).
        index: also write the index (e.g. a transition matrix); column names are turned into
            strings for Parquet.

    Returns:
        The files written.
    """
    base = Path(path)
    if base.suffix in (".csv", ".parquet"):
        base = base.with_suffix("")
    out = []
    for fmt in formats:
        if fmt not in ("csv", "parquet"):
            raise GazevosError(f"unknown table format '{fmt}' (known: csv, parquet)")
        target = base.with_name(base.name + "." + fmt)
        with atomic_write(target) as tmp:
            if fmt == "csv":
                df.to_csv(tmp, index=index)
            else:
                t = df.copy()
                t.columns = [str(c) for c in t.columns]
                if index:
                    t = t.reset_index()
                    t.columns = [str(c) for c in t.columns]
                t.to_parquet(tmp, engine="pyarrow", index=False)
        out.append(target)
    return out


def write_tables(out_dir: str | os.PathLike[str], tables: Mapping[str, pd.DataFrame],
                 formats: Sequence[str] = ("csv", "parquet")) -> list[Path]:
    """Write several tables ``name -> DataFrame`` into ``out_dir`` (see :func:`write_table`).

    A table whose index is named (such as :func:`transition_matrix`) keeps its index.
    """
    out: list[Path] = []
    for name, df in tables.items():
        keep_index = df.index.name is not None
        out += write_table(df, Path(out_dir) / name, formats, index=keep_index)
    return out
