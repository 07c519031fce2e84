"""Which object is under the gaze: per sample, frame by frame, and per fixation.

A label map is an ``(H, W)`` integer array of object ids for one scene frame: 0 is
background, 1..254 objects, ``void_label`` (255, DAVIS' "void") counts as background.  Pixel
``(row r, column c)`` covers ``x in [c, c + 1)``, ``y in [r, r + 1)``.

Each valid gaze sample gets

* ``hit = "inside"``: the pixel under the gaze point belongs to an object -> that object;
* ``hit = "near"``: otherwise, the object pixel nearest to the gaze point (distance to the
  pixel centre) lies within the tolerance -> that object;
* ``hit = "none"``: nothing within the tolerance -> object 0.

Samples that are not valid (see :func:`gazevos.gaze.fixations.valid_samples`) get
``hit = "invalid"`` and object 0; samples whose frame has no label map get ``"unmapped"``.
The tolerance is a visual angle (default 1.5 deg, the order of a wearable tracker's
accuracy) turned into a pixel radius at each gaze point through the camera geometry, so it
shrinks where a wide lens compresses the image.  The nearest object is found by a search in
a window of that radius around the point, so the cost per sample is about ``(2r + 1)^2``
pixels whatever the frame size (r = 21 px at the centre of a 1280x720 Pupil Core frame).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.gaze.fixations import valid_samples
from gazevos.gaze.geometry import CameraGeometry

#: Values of the ``hit`` column.
HITS = ("inside", "near", "none", "invalid", "unmapped")
#: Columns :func:`map_frame` / :meth:`GazeObjectMapper.map_gaze` add to the gaze table.
MAPPED_COLUMNS = ("object_id", "hit", "distance_px", "tolerance_px")
#: Columns :func:`aggregate_fixations` adds to the fixation table.
FIXATION_OBJECT_COLUMNS = ("object_id", "hit", "share", "n_valid")

LabelSource = Callable[[int], "np.ndarray | None"]


@dataclass(frozen=True)
class MappingConfig:
    """Gaze-to-object mapping settings.

    Attributes:
        tolerance_deg: a sample off every object but within this visual angle of one is
            assigned to it (``hit = "near"``).
        void_label: label value treated as background (None: none).
        min_confidence: sample validity threshold when the gaze table has no ``flag`` column.
    """

    tolerance_deg: float = 1.5
    void_label: int | None = 255
    min_confidence: float = 0.6


def map_points(x: np.ndarray, y: np.ndarray, label_map: np.ndarray,
               tolerance_px: np.ndarray | float,
               void_label: int | None = 255) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objects under (or near) gaze points on one label map.

    Args:
        x, y: ``(N,)`` gaze positions in pixels (finite).
        label_map: ``(H, W)`` integer object ids.
        tolerance_px: ``(N,)`` or scalar search radius in pixels.
        void_label: value treated as background.

    Returns:
        ``object_id`` ``(N,)`` int64, ``hit`` ``(N,)`` str (``inside``/``near``/``none``),
        ``distance_px`` ``(N,)`` float (0 inside, distance to the nearest object pixel centre
        when near, NaN for none).
    """
    labels = np.asarray(label_map)
    if labels.ndim != 2:
        raise GazevosError(f"label map must be (H, W), got shape {labels.shape}")
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    n = len(x)
    tol = np.broadcast_to(np.asarray(tolerance_px, dtype=np.float64), (n,))
    h, w = labels.shape
    obj = np.zeros(n, dtype=np.int64)
    hit = np.full(n, "none", dtype=object)
    dist = np.full(n, np.nan)
    cols = np.floor(x).astype(np.int64)
    rows = np.floor(y).astype(np.int64)
    in_image = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    under = np.zeros(n, dtype=np.int64)
    under[in_image] = labels[rows[in_image], cols[in_image]]
    is_in = in_image & (under != 0)
    if void_label is not None:
        is_in &= under != void_label
    obj[is_in], hit[is_in], dist[is_in] = under[is_in], "inside", 0.0
    for i in np.flatnonzero(~is_in):
        xi, yi, ti = x[i], y[i], tol[i]
        c, r = int(cols[i]), int(rows[i])
        if not ti > 0:
            continue
        rad = int(np.ceil(ti))
        r0, r1 = max(r - rad, 0), min(r + rad + 1, h)
        c0, c1 = max(c - rad, 0), min(c + rad + 1, w)
        if r0 >= r1 or c0 >= c1:
            continue
        win = labels[r0:r1, c0:c1]
        is_obj = win != 0
        if void_label is not None:
            is_obj &= win != void_label
        if not is_obj.any():
            continue
        rr, cc = np.nonzero(is_obj)
        d2 = (rr + r0 + 0.5 - yi) ** 2 + (cc + c0 + 0.5 - xi) ** 2
        k = int(np.argmin(d2))
        if d2[k] <= ti * ti:
            obj[i], hit[i], dist[i] = int(win[rr[k], cc[k]]), "near", float(np.sqrt(d2[k]))
    return obj, hit, dist


class GazeObjectMapper:
    """Maps gaze samples onto objects, one frame at a time (streaming) or all at once.

    Args:
        geometry: the scene camera (turns ``tolerance_deg`` into pixels at each gaze point).
        config: mapping settings.

    Example (streaming, as a tracker produces label maps)::

        mapper = GazeObjectMapper(geometry)
        parts = []
        for frame in frames:
            labels = tracker.step(frame.image).labels
            parts.append(mapper.map_frame(gaze[gaze.frame == frame.index], labels))
        samples = pd.concat(parts)
    """

    def __init__(self, geometry: CameraGeometry, config: MappingConfig | None = None) -> None:
        self.geometry = geometry
        self.config = config or MappingConfig()

    def tolerance_px(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(N,)`` pixel radius of ``config.tolerance_deg`` at each point (NaN if not finite)."""
        pts = np.stack([np.asarray(x, float), np.asarray(y, float)], axis=1)
        if len(pts) == 0:
            return np.zeros(0)
        return self.geometry.degrees_to_pixels(pts, self.config.tolerance_deg)

    def _map_arrays(self, x: np.ndarray, y: np.ndarray, ok: np.ndarray, tol: np.ndarray,
                    label_map: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrays ``(object_id, hit, distance_px)`` for samples of one frame."""
        n = len(x)
        obj = np.zeros(n, dtype=np.int64)
        hit = np.full(n, "invalid", dtype=object)
        dist = np.full(n, np.nan)
        if ok.any():
            if label_map is None:
                hit[ok] = "unmapped"
            else:
                obj[ok], hit[ok], dist[ok] = map_points(
                    x[ok], y[ok], label_map, np.nan_to_num(tol[ok], nan=0.0),
                    self.config.void_label)
        return obj, hit, dist

    @staticmethod
    def _attach(samples: pd.DataFrame, obj: np.ndarray, hit: np.ndarray, dist: np.ndarray,
                tol: np.ndarray) -> pd.DataFrame:
        base = samples.drop(columns=[c for c in MAPPED_COLUMNS if c in samples.columns])
        cols = {c: base[c].to_numpy() if not isinstance(base[c].dtype, pd.CategoricalDtype)
                else base[c].array for c in base.columns}
        cols.update({"object_id": obj, "hit": hit, "distance_px": dist, "tolerance_px": tol})
        out = pd.DataFrame(cols, index=base.index)
        out["hit"] = out["hit"].astype(object)
        return out

    def _tolerances(self, samples: pd.DataFrame, ok: np.ndarray) -> np.ndarray:
        if "tolerance_px" in samples.columns:
            return samples["tolerance_px"].to_numpy(float)
        tol = np.full(len(samples), np.nan)
        if ok.any():
            tol[ok] = self.tolerance_px(samples["x"].to_numpy(float)[ok],
                                        samples["y"].to_numpy(float)[ok])
        return tol

    def map_frame(self, samples: pd.DataFrame, label_map: np.ndarray | None) -> pd.DataFrame:
        """The samples of ONE frame mapped on that frame's ``(H, W)`` label map.

        Args:
            samples: gaze rows (columns ``time``, ``x``, ``y`` and ``flag`` or
                ``confidence``) that belong to the frame.
            label_map: the frame's object ids, or None when it has none (``"unmapped"``).

        Returns:
            A copy of ``samples`` with :data:`MAPPED_COLUMNS` added: ``object_id`` (int64, 0
            background), ``hit`` (one of :data:`HITS`), ``distance_px``, ``tolerance_px``.
        """
        ok = valid_samples(samples, self.config.min_confidence)
        tol = self._tolerances(samples, ok)
        obj, hit, dist = self._map_arrays(samples["x"].to_numpy(float),
                                          samples["y"].to_numpy(float), ok, tol, label_map)
        return self._attach(samples, obj, hit, dist, tol)

    def map_gaze(self, gaze: pd.DataFrame, label_maps: LabelSource,
                 frames: np.ndarray | None = None) -> pd.DataFrame:
        """Every sample mapped, frame by frame (not streaming: ``label_maps`` is called).

        Args:
            gaze: the gaze table with a ``frame`` column (scene frame of each sample, -1 for
                none), or give ``frames``.
            label_maps: ``frame_index -> (H, W) label map`` (or None when unknown); called
                once per frame that has valid samples, in increasing order.
            frames: ``(N,)`` frame index per sample when ``gaze`` has no ``frame`` column.

        Returns:
            ``gaze`` (same rows, same order) with :data:`MAPPED_COLUMNS` added.
        """
        run = MappingRun(self, gaze, frames)
        for f in run.frames:
            run.map(int(f), label_maps(int(f)))
        return run.result()


class MappingRun:
    """A gaze table mapped frame by frame as label maps arrive (:meth:`map`), in any order;
    :meth:`result` is then what :meth:`GazeObjectMapper.map_gaze` returns.

    The arrays :attr:`object_id` and :attr:`hit` (``(N,)``, the table's row order) hold
    each sample's answer as soon as its frame is mapped (``"invalid"``/``"unmapped"`` or
    not yet mapped before).

    Args:
        mapper: the mapper (tolerance, validity).
        gaze: the gaze table with a ``frame`` column, or give ``frames``.
        frames: ``(N,)`` frame index per sample when ``gaze`` has no ``frame`` column.
    """

    def __init__(self, mapper: GazeObjectMapper, gaze: pd.DataFrame,
                 frames: np.ndarray | None = None) -> None:
        if frames is None:
            if "frame" not in gaze.columns:
                raise GazevosError("gaze table has no 'frame' column (sync gaze to the video "
                                   "first)")
            frames = gaze["frame"].to_numpy(np.int64)
        self.mapper = mapper
        self.gaze = gaze
        frames = np.asarray(frames, dtype=np.int64)
        self.ok = valid_samples(gaze, mapper.config.min_confidence)
        self.tolerance = mapper._tolerances(gaze, self.ok)
        self.x = gaze["x"].to_numpy(float)
        self.y = gaze["y"].to_numpy(float)
        n = len(gaze)
        self.object_id = np.zeros(n, dtype=np.int64)
        self.hit = np.full(n, "invalid", dtype=object)
        self.distance = np.full(n, np.nan)
        self.hit[self.ok & ~(frames >= 0)] = "unmapped"
        order = np.argsort(frames, kind="stable")
        bounds = np.flatnonzero(np.diff(frames[order])) + 1
        self._rows: dict[int, np.ndarray] = {}
        for idx in np.split(order, bounds):
            if len(idx) and frames[idx[0]] >= 0 and self.ok[idx].any():
                self._rows[int(frames[idx[0]])] = idx
        #: ``(K,)`` ascending frames that have valid samples to map
        self.frames = np.array(sorted(self._rows), dtype=np.int64)

    def map(self, frame: int, label_map: np.ndarray | None) -> None:
        """Map the samples of ``frame`` on its ``(H, W)`` label map (None: unknown); a
        frame without valid samples is ignored."""
        idx = self._rows.get(int(frame))
        if idx is None:
            return
        o, h, d = self.mapper._map_arrays(self.x[idx], self.y[idx], self.ok[idx],
                                          self.tolerance[idx], label_map)
        self.object_id[idx], self.hit[idx], self.distance[idx] = o, h, d

    def result(self) -> pd.DataFrame:
        """The gaze table with :data:`MAPPED_COLUMNS` added (the samples of a frame not
        mapped yet still read ``"invalid"``: map every frame of :attr:`frames` first)."""
        return self.mapper._attach(self.gaze, self.object_id, self.hit, self.distance,
                                   self.tolerance)


def fixation_object(object_id: np.ndarray, inside: np.ndarray, usable: np.ndarray
                    ) -> tuple[int, str, float, int]:
    """``(object_id, hit, share, n_valid)`` of one fixation from its samples' ``(n,)``
    object ids, inside flags and usability (the rule of :func:`aggregate_fixations`)."""
    if not usable.any():
        return 0, "invalid", float("nan"), 0
    ids = object_id[usable]
    ins = inside[usable]
    uniq, counts = np.unique(ids, return_counts=True)
    n_in = np.array([ins[ids == u].sum() for u in uniq])
    order = np.lexsort((uniq, uniq == 0, -n_in, -counts))
    best = int(uniq[order[0]])
    if best == 0:
        hit = "none"
    else:
        hit = "inside" if 2 * n_in[order[0]] >= counts[order[0]] else "near"
    return best, hit, float(counts[order[0]] / len(ids)), len(ids)


def aggregate_fixations(fixations: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """One object per fixation: the majority object of its mapped samples.

    A fixation's samples are the mapped samples whose time lies in ``[start, end]`` and
    whose ``hit`` is ``inside``, ``near`` or ``none`` (valid, mapped).  The fixation's
    ``object_id`` is the most frequent object among them (background 0 included); ties go to
    the object with more ``inside`` samples, then to an object over background, then to the
    smaller id.

    Args:
        fixations: fixation table (``fixation_id``, ``start``, ``end``, ...).
        samples: mapped samples (:data:`MAPPED_COLUMNS` present; sorted by time here if
            they are not).

    Returns:
        A copy of ``fixations`` with ``object_id`` (int64), ``hit`` (``inside`` when at least
        half of the winning object's samples are inside it, else ``near``; ``none`` when the
        majority is background; ``invalid`` when no sample is usable), ``share`` (fraction of
        the usable samples on the winning object) and ``n_valid`` (usable samples).
    """
    out = fixations.copy()
    n = len(out)
    obj = np.zeros(n, dtype=np.int64)
    hit = np.full(n, "invalid", dtype=object)
    share = np.full(n, np.nan)
    n_valid = np.zeros(n, dtype=np.int64)
    times = samples["time"].to_numpy(float)
    if len(times) > 1 and np.any(np.diff(times) < 0):  # e.g. frames mapped out of order
        samples = samples.sort_values("time", kind="stable")
        times = samples["time"].to_numpy(float)
    usable = samples["hit"].isin(("inside", "near", "none")).to_numpy()
    sobj = samples["object_id"].to_numpy(np.int64)
    inside = (samples["hit"] == "inside").to_numpy()
    starts = out["start"].to_numpy(float)
    ends = out["end"].to_numpy(float)
    for i in range(n):
        a = np.searchsorted(times, starts[i], side="left")
        b = np.searchsorted(times, ends[i], side="right")
        obj[i], hit[i], share[i], n_valid[i] = fixation_object(sobj[a:b], inside[a:b],
                                                               usable[a:b])
    out["object_id"] = obj
    out["hit"] = pd.Series(hit, index=out.index, dtype=object)
    out["share"] = share
    out["n_valid"] = n_valid
    return out
