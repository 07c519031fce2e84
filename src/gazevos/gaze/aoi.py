"""Research-grade AOI metrics: object visibility, dwell share, visits, entropies.

Pure functions (pandas/numpy in, tidy DataFrames out, no I/O); :mod:`gazevos.gaze.aoi_tables`
computes all of them from an ``annotate`` output folder.  Times are in seconds on the
recording's clock (the ``time`` column of the gaze table).

**Object state per frame** (:func:`object_states`).  Each tracked object is, on each video
frame, one of

* ``visible``: its mask has at least ``min_area`` pixels;
* ``not_started``: it has not been visible yet (before its prompt frame, or before the tracker
  first found it) -- this time counts as neither visible nor lost;
* ``out_of_frame``: its mask is empty and its *last visible* mask touched the image border
  (within ``border_px`` pixels): it most likely left the field of view;
* ``lost``: its mask is empty and its last visible mask lay inside the image: the tracker lost
  it (or it was occluded; a mask cannot tell the two apart).

A frame lasts from its timestamp to the next frame's (the last frame: the median frame
interval), so ``visible_time`` is the summed duration of an object's visible frames.

**Strict and tolerant hits** (the mapping of :mod:`gazevos.gaze.mapping`): a sample is a
*strict* hit on an object when the gaze pixel is inside its mask (``hit == "inside"``), a
*tolerant* hit when it is inside or within the angular tolerance (``hit in {"inside",
"near"}``).  A fixation is a strict hit when its ``hit`` is ``inside`` (at least half of its
winning object's samples inside), tolerant when ``inside`` or ``near``.  Every metric is
reported for both (column ``mode``).

**Overlapping objects.**  A mask is a label map: each pixel holds one object, the one the
tracker put in front, so a strict hit is never ambiguous.  A tolerant ``near`` hit goes to the
object whose nearest pixel is closest to the gaze point; a fixation goes to the majority
object of its samples (ties: more ``inside`` samples, then an object over background, then
the smaller id).  No sample or fixation is ever counted for two objects.

**Dwell** (samples): the summed duration of the hit samples (sample duration as in
:func:`gazevos.gaze.metrics.sample_durations`); **dwell share** = dwell / visible time.
**Dwell** (fixations): the summed duration of the fixations on the object.

**Visits** (Holmqvist et al. 2011, *Eye Tracking: A comprehensive guide to methods and
measures*, OUP, which calls a visit a *dwell*: the time from entering an AOI to leaving it).
Raw visits are maximal runs on the object -- of consecutive fixations (a fixation on another
object or the background ends a run) or of consecutive valid samples (an invalid sample ends
it too).  Then, per object and in this order: visits whose gap (next start - previous end) is
shorter than ``min_gap`` are merged (the merged visit spans both and the gap), and visits
shorter than ``min_duration`` are dropped.  The book defines visits but prescribes no
numbers; the defaults are borrowed from the defaults of the Tobii I-VT fixation filter
(Olsen 2012, *The Tobii I-VT Fixation Filter*): 75 ms ("max gap length" for gap fill-in and
"max time between fixations" for merging) and 60 ms ("minimum fixation duration").
Revisits = visits - 1 (0 when never visited).

**Time to first fixation**: the start of the first fixation on the object minus the start
of the recording (its first video frame), and minus the start of the object's first visible
frame (clipped at 0 when the fixation began just before that frame's timestamp).

**Entropies** (Krejtz et al., ETRA 2014, "Entropy-based statistical analysis of eye movement
transitions"): with transition probabilities ``p_ij = n_ij / sum_j n_ij`` between the objects
of consecutive fixations and the stationary distribution ``pi``,
``H_s = -sum_i pi_i log2 pi_i`` and ``H_t = -sum_i pi_i sum_j p_ij log2 p_ij``.  ``pi`` is
estimated from the counts as the share of transitions leaving each object (row sum / total),
the empirical estimate to which the stationary distribution of a long chain converges.
Refixations of the same object (the diagonal) are left out unless ``include_self``; the
background (object 0) is a state unless ``include_background`` is False.  Normalised forms
divide by ``log2`` of the number of states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.gaze.metrics import sample_durations

#: Object states of :func:`object_states`.
STATES = ("visible", "not_started", "out_of_frame", "lost")
#: Hit modes: which ``hit`` values count for an object.
MODES = {"strict": ("inside",), "tolerant": ("inside", "near")}


@dataclass(frozen=True)
class AoiConfig:
    """Settings of the AOI metrics (see the module docstring for the definitions).

    Attributes:
        min_gap: visits of one object closer than this (s) are merged (default 75 ms).
        min_duration: visits shorter than this (s) are dropped, after merging (default 60 ms).
        min_area: pixels a mask needs for its object to be visible on a frame.
        border_px: a mask within this many pixels of the image edge touches the border.
        max_sample_duration: cap on one sample's duration (s).
        include_background: keep the background (object 0) as a state of the transitions.
        include_self: count refixations of the same object as transitions.
    """

    min_gap: float = 0.075
    min_duration: float = 0.060
    min_area: int = 1
    border_px: int = 1
    max_sample_duration: float = 0.05
    include_background: bool = True
    include_self: bool = False

    def __post_init__(self) -> None:
        for name in ("min_gap", "min_duration", "max_sample_duration"):
            if not float(getattr(self, name)) >= 0:
                raise GazevosError(f"AOI setting {name} must be >= 0, got {getattr(self, name)}")
        if self.min_area < 1 or self.border_px < 0:
            raise GazevosError("AOI settings need min_area >= 1 and border_px >= 0")


# ----------------------------------------------------------------------------- frames
def frame_durations(frame_times: np.ndarray) -> np.ndarray:
    """``(F,)`` duration of each frame: to the next frame; the last gets the median interval."""
    t = np.asarray(frame_times, dtype=np.float64)
    if len(t) < 2:
        return np.zeros(len(t))
    d = np.diff(t)
    return np.append(d, float(np.median(d)))


def mask_stats(label_map: np.ndarray, object_ids: Sequence[int],
               border_px: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of each object in one label map, and whether it touches the border.

    Returns:
        ``area`` ``(K,)`` int64 and ``touches`` ``(K,)`` bool, in the order of ``object_ids``.
    """
    lm = np.asarray(label_map)
    if lm.ndim != 2:
        raise GazevosError(f"label map must be (H, W), got shape {lm.shape}")
    ids = np.asarray(object_ids, dtype=np.int64)
    if lm.dtype == np.uint8 and 0 < lm.size < 1 << 24 and (len(ids) == 0 or ids.max() < 256):
        # a label map as read: OpenCV's histogram (counts exact below 2^24 pixels) is
        # about 10x faster than bincount, which first widens every pixel to int64
        top = 256
        counts = cv2.calcHist([np.ascontiguousarray(lm)], [0], None, [256], [0, 256])
        area = counts.ravel().astype(np.int64)[ids]
    else:
        top = max(int(ids.max()) if len(ids) else 0, int(lm.max()) if lm.size else 0) + 1
        area = np.bincount(lm.ravel().astype(np.int64), minlength=top)[ids]
    b = max(int(border_px), 1)
    edge = np.concatenate([lm[:b].ravel(), lm[-b:].ravel(), lm[:, :b].ravel(),
                           lm[:, -b:].ravel()]).astype(np.int64)
    touches = np.bincount(edge, minlength=top)[ids] > 0
    return area.astype(np.int64), touches


def object_states(masks: Iterable[np.ndarray] | None, object_ids: Sequence[int],
                  frame_times: np.ndarray, config: AoiConfig | None = None,
                  stats: Iterable[tuple[np.ndarray, np.ndarray]] | None = None
                  ) -> pd.DataFrame:
    """Per frame and object: state (:data:`STATES`), mask area and frame duration.

    Args:
        masks: the label maps, one per frame, in frame order (may be a generator: each is
            read once); None when ``stats`` are given.
        object_ids: the tracked objects.
        frame_times: ``(F,)`` frame timestamps (s); one per mask.
        config: ``min_area`` and ``border_px``.
        stats: instead of ``masks``, each frame's :func:`mask_stats` (``area``,
            ``touches``) for ``object_ids`` with ``config.border_px``, already computed.

    Returns:
        Long table ``frame, time, duration, object_id, state, area_px`` (frame-major).
    """
    cfg = config or AoiConfig()
    ids = [int(i) for i in object_ids]
    times = np.asarray(frame_times, dtype=np.float64)
    dur = frame_durations(times)
    k = len(ids)
    started = np.zeros(k, dtype=bool)
    last_touch = np.zeros(k, dtype=bool)
    frames, states, areas = [], [], []
    n = 0
    if stats is None:
        if masks is None:
            raise ValueError("give masks or stats")
        stats = (mask_stats(lm, ids, cfg.border_px) for lm in masks)
    for f, (area, touch) in enumerate(stats):
        if f >= len(times):
            raise GazevosError(f"more masks than frame times ({len(times)})")
        vis = area >= cfg.min_area
        st = np.where(vis, "visible", np.where(~started, "not_started",
                                               np.where(last_touch, "out_of_frame", "lost")))
        started |= vis
        last_touch = np.where(vis, touch, last_touch)
        frames.append(np.full(k, f))
        states.append(st)
        areas.append(area)
        n += 1
    if n != len(times):
        raise GazevosError(f"{n} masks for {len(times)} frame times")
    if n == 0 or k == 0:
        return pd.DataFrame({"frame": pd.Series(dtype=np.int64),
                             "time": pd.Series(dtype=float),
                             "duration": pd.Series(dtype=float),
                             "object_id": pd.Series(dtype=np.int64),
                             "state": pd.Series(dtype=object),
                             "area_px": pd.Series(dtype=np.int64)})
    fr = np.concatenate(frames)
    return pd.DataFrame({"frame": fr.astype(np.int64), "time": times[fr], "duration": dur[fr],
                         "object_id": np.tile(np.asarray(ids, dtype=np.int64), n),
                         "state": np.concatenate(states).astype(object),
                         "area_px": np.concatenate(areas)})


def visibility_summary(states: pd.DataFrame) -> pd.DataFrame:
    """Per object: time in each state and the start of its first visible frame.

    Returns:
        One row per object: ``object_id``, ``visible_time``, ``lost_time``,
        ``out_of_frame_time``, ``not_started_time``, ``first_visible`` (s, NaN if never).
    """
    rows = []
    for oid, g in states.groupby("object_id", sort=True):
        row: dict[str, float | int] = {"object_id": int(oid)}
        for s in STATES:
            row[f"{s}_time"] = float(g.loc[g["state"] == s, "duration"].sum())
        vis = g[g["state"] == "visible"]
        row["first_visible"] = float(vis["time"].iloc[0]) if len(vis) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- visits
def merge_visits(intervals: pd.DataFrame, min_gap: float, min_duration: float
                 ) -> pd.DataFrame:
    """Merge close visits of the same object, then drop short ones (module docstring).

    Args:
        intervals: raw visits ``object_id, start, end`` (any order).
        min_gap: merge when ``next.start - previous.end < min_gap`` (visits that overlap or
            touch are merged whatever ``min_gap``).
        min_duration: then drop visits with ``end - start < min_duration``.

    Returns:
        ``object_id, start, end, duration, n_merged`` (number of raw visits in each), sorted by
        start.
    """
    out = []
    for oid, g in intervals.sort_values(["object_id", "start"], kind="stable").groupby(
            "object_id", sort=True):
        cur: list[float] | None = None
        for a, b in zip(g["start"].to_numpy(float), g["end"].to_numpy(float), strict=True):
            if cur is not None and (a - cur[1] < min_gap or a <= cur[1]):
                cur[1] = max(cur[1], b)
                cur[2] += 1
            else:
                if cur is not None:
                    out.append((int(oid), *cur))
                cur = [a, b, 1]
        if cur is not None:
            out.append((int(oid), *cur))
    df = pd.DataFrame(out, columns=["object_id", "start", "end", "n_merged"])
    df["object_id"] = df["object_id"].astype(np.int64)
    df["n_merged"] = df["n_merged"].astype(np.int64)
    df.insert(3, "duration", df["end"] - df["start"])
    df = df[df["duration"] >= min_duration]
    return df.sort_values("start", kind="stable").reset_index(drop=True)


def _runs(objects: np.ndarray, starts: np.ndarray, ends: np.ndarray,
          breaks: np.ndarray | None = None) -> pd.DataFrame:
    """Maximal runs of equal consecutive objects (a True ``breaks`` ends a run and is skipped)."""
    rows: list[tuple[int, float, float]] = []
    prev = None
    for i, o in enumerate(objects):
        if breaks is not None and breaks[i]:
            prev = None
            continue
        if prev is not None and prev == o:
            rows[-1] = (rows[-1][0], rows[-1][1], float(ends[i]))
        else:
            rows.append((int(o), float(starts[i]), float(ends[i])))
        prev = o
    return pd.DataFrame(rows, columns=["object_id", "start", "end"])


def sample_runs(samples: pd.DataFrame, mode: str = "tolerant",
                max_sample_duration: float = 0.05) -> pd.DataFrame:
    """Raw sample visits: runs of consecutive valid samples hitting one object (not 0).

    A run lasts from its first sample's time to its last sample's time plus that sample's
    duration.  Invalid and unmapped samples end a run; so does a sample on another object or
    on the background.
    """
    t = samples["time"].to_numpy(float)
    obj = _hit_objects(samples, mode)
    end = t + sample_durations(t, max_sample_duration)
    usable = samples["hit"].isin(("inside", "near", "none")).to_numpy()
    runs = _runs(obj, t, end, breaks=~usable)
    return runs[runs["object_id"] != 0].reset_index(drop=True)


def fixation_runs(fixations: pd.DataFrame, mode: str = "tolerant") -> pd.DataFrame:
    """Raw fixation visits: runs of consecutive fixations on one object (not 0).

    Fixations without usable samples (``hit`` ``invalid``) are skipped, as in
    :mod:`gazevos.gaze.metrics`; a fixation on another object or the background ends a run.
    """
    fx = fixations[fixations["hit"] != "invalid"].sort_values("start", kind="stable")
    obj = _hit_objects(fx, mode)
    runs = _runs(obj, fx["start"].to_numpy(float), fx["end"].to_numpy(float))
    return runs[runs["object_id"] != 0].reset_index(drop=True)


def _hit_objects(table: pd.DataFrame, mode: str) -> np.ndarray:
    """The object each row counts for in ``mode`` (0 when it is no hit in that mode)."""
    if mode not in MODES:
        raise GazevosError(f"unknown hit mode '{mode}' (choose from {', '.join(MODES)})")
    obj = table["object_id"].to_numpy(np.int64)
    return np.where(table["hit"].isin(MODES[mode]).to_numpy(), obj, 0)


# ----------------------------------------------------------------------------- per object
def object_metrics(samples: pd.DataFrame, fixations: pd.DataFrame, states: pd.DataFrame,
                   t0: float, object_ids: Sequence[int],
                   config: AoiConfig | None = None) -> pd.DataFrame:
    """All per-object metrics, strict and tolerant, as a tidy long table.

    Args:
        samples: mapped gaze samples (``time``, ``object_id``, ``hit``), time-ordered.
        fixations: mapped fixations (``start``, ``end``, ``object_id``, ``hit``).
        states: :func:`object_states` of the recording.
        t0: the start of the recording (its first frame's time).
        object_ids: the tracked objects (ids > 0).
        config: settings.

    Returns:
        ``object_id, mode, metric, value`` with ``mode`` strict/tolerant and ``metric`` one
        of ``visible_time, lost_time, out_of_frame_time, first_visible_s, dwell_time,
        dwell_share, fixation_dwell_time, fixation_dwell_share, n_fixations,
        time_to_first_fixation, time_to_first_fixation_visible, first_fixation_duration,
        n_visits, n_revisits, visit_duration, n_sample_visits`` (times in s; ``first_visible_s``
        from the recording start).
    """
    cfg = config or AoiConfig()
    t = samples["time"].to_numpy(float)
    if len(t) > 1 and np.any(np.diff(t) < 0):
        raise GazevosError("gaze samples are not in time order")
    dur = sample_durations(t, cfg.max_sample_duration)
    vis = visibility_summary(states).set_index("object_id") if len(states) else None
    fx = fixations[fixations["hit"] != "invalid"].sort_values("start", kind="stable")
    f_start = fx["start"].to_numpy(float)
    f_dur = (fx["end"] - fx["start"]).to_numpy(float)
    rows: list[tuple[int, str, str, float]] = []
    for mode in MODES:
        s_obj = _hit_objects(samples, mode)
        f_obj = _hit_objects(fx, mode)
        visits = merge_visits(fixation_runs(fixations, mode), cfg.min_gap, cfg.min_duration)
        s_visits = merge_visits(sample_runs(samples, mode, cfg.max_sample_duration),
                                cfg.min_gap, cfg.min_duration)
        for oid in (int(i) for i in object_ids):
            v = vis.loc[oid] if vis is not None and oid in vis.index else None
            visible = float(v["visible_time"]) if v is not None else 0.0
            first_vis = float(v["first_visible"]) if v is not None else float("nan")
            dwell = float(dur[s_obj == oid].sum())
            sel = np.flatnonzero(f_obj == oid)
            fdwell = float(f_dur[sel].sum())
            first = sel[0] if len(sel) else None
            nv = int((visits["object_id"] == oid).sum())
            m = {
                "visible_time": visible,
                "lost_time": float(v["lost_time"]) if v is not None else 0.0,
                "out_of_frame_time": float(v["out_of_frame_time"]) if v is not None else 0.0,
                "first_visible_s": first_vis - t0,
                "dwell_time": dwell,
                "dwell_share": dwell / visible if visible > 0 else float("nan"),
                "fixation_dwell_time": fdwell,
                "fixation_dwell_share": fdwell / visible if visible > 0 else float("nan"),
                "n_fixations": float(len(sel)),
                "time_to_first_fixation": (f_start[first] - t0 if first is not None
                                           else float("nan")),
                "time_to_first_fixation_visible": (max(f_start[first] - first_vis, 0.0)
                                                   if first is not None else float("nan")),
                "first_fixation_duration": (f_dur[first] if first is not None
                                            else float("nan")),
                "n_visits": float(nv),
                "n_revisits": float(max(nv - 1, 0)),
                "visit_duration": float(visits.loc[visits["object_id"] == oid,
                                                   "duration"].sum()),
                "n_sample_visits": float((s_visits["object_id"] == oid).sum()),
            }
            rows += [(oid, mode, k, float(val)) for k, val in m.items()]
    return pd.DataFrame(rows, columns=["object_id", "mode", "metric", "value"])


def visits_table(samples: pd.DataFrame, fixations: pd.DataFrame,
                 config: AoiConfig | None = None) -> pd.DataFrame:
    """Every visit after merging and dropping: ``unit, mode, object_id, start, end, ...``."""
    cfg = config or AoiConfig()
    parts = []
    for mode in MODES:
        for unit, raw in (("fixations", fixation_runs(fixations, mode)),
                          ("samples", sample_runs(samples, mode, cfg.max_sample_duration))):
            v = merge_visits(raw, cfg.min_gap, cfg.min_duration)
            v.insert(0, "mode", mode)
            v.insert(0, "unit", unit)
            parts.append(v)
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- transitions
def transition_counts(objects: Sequence[int] | np.ndarray, include_background: bool = True,
                      include_self: bool = False) -> pd.DataFrame:
    """Long table ``from_object, to_object, count, probability`` of consecutive objects.

    Args:
        objects: the object of each fixation, in time order (0 background).
        include_background: keep background fixations as a state (else drop them first, so
            ``A -> background -> B`` counts as ``A -> B``).
        include_self: count ``A -> A``.

    Returns:
        Non-zero cells; ``probability`` = count / the row's total (``p_ij``).
    """
    seq = np.asarray(objects, dtype=np.int64)
    if not include_background:
        seq = seq[seq != 0]
    pairs = pd.DataFrame({"from_object": seq[:-1], "to_object": seq[1:]}) if len(seq) > 1 \
        else pd.DataFrame({"from_object": pd.Series(dtype=np.int64),
                           "to_object": pd.Series(dtype=np.int64)})
    if not include_self:
        pairs = pairs[pairs["from_object"] != pairs["to_object"]]
    counts = pairs.groupby(["from_object", "to_object"]).size().rename("count").reset_index()
    counts["count"] = counts["count"].astype(np.int64)
    totals = counts.groupby("from_object")["count"].transform("sum")
    counts["probability"] = counts["count"] / totals
    return counts


def gaze_entropy(transitions: pd.DataFrame) -> dict[str, float]:
    """Stationary and transition entropy of :func:`transition_counts` (Krejtz et al. 2014).

    Returns:
        ``stationary_entropy``, ``transition_entropy`` (bits), their normalised forms
        (divided by ``log2`` of the number of states; NaN with fewer than two states),
        ``n_transitions`` and ``n_states``.
    """
    n_total = int(transitions["count"].sum()) if len(transitions) else 0
    states = sorted(set(transitions["from_object"]) | set(transitions["to_object"]))
    if n_total == 0:
        nan = float("nan")
        return {"stationary_entropy": nan, "transition_entropy": nan,
                "stationary_entropy_norm": nan, "transition_entropy_norm": nan,
                "n_transitions": 0.0, "n_states": float(len(states))}
    rows = transitions.groupby("from_object")["count"].sum()
    pi = rows / n_total
    h_s = float(-(pi * np.log2(pi)).sum())
    p = transitions["probability"].to_numpy(float)
    pi_row = pi.reindex(transitions["from_object"]).to_numpy(float)
    h_t = float(-(pi_row * p * np.log2(p)).sum())
    norm = np.log2(len(states)) if len(states) > 1 else float("nan")
    return {"stationary_entropy": h_s, "transition_entropy": h_t,
            "stationary_entropy_norm": h_s / norm, "transition_entropy_norm": h_t / norm,
            "n_transitions": float(n_total), "n_states": float(len(states))}


def name_objects(df: pd.DataFrame, names: Mapping[int, str],
                 columns: Sequence[str] = ("object_id",)) -> pd.DataFrame:
    """Add a name column after each id column (``object_id`` -> ``object``, ``from_object`` ->
    ``from_name``); unknown ids read ``(no object)`` for 0 and ``object<ID>`` otherwise."""
    out = df.copy()
    for col in columns:
        if col not in out.columns:
            continue
        target = "object" if col == "object_id" else col.replace("_object", "_name")
        vals = out[col].map(lambda i: names.get(int(i), "(no object)" if int(i) == 0
                                                else f"object{int(i)}"))
        out.insert(out.columns.get_loc(col) + 1, target, vals.astype(object))
    return out
