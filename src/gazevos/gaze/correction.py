"""Opt-in correction of calibration error: move the gaze onto the objects it keeps missing.

A wearable tracker's calibration drifts; in real recordings the gaze often sits a few
degrees off the objects the wearer alternates between, consistently.  :func:`fit_correction`
fits a small transform of the gaze, around the principal point ``c``::

    p' = c + S (p - c) + d,      S = diag(sx, sy)

with model ``offset`` (``S = 1``), ``offset_scale`` (``sx = sy``) or ``offset_scale_xy``.
It is an iterative closest-object fit over the fixations:

1. each fixation centroid, moved by the current transform, is assigned to the object under it
   or, failing that, the nearest object in the label map of the fixation's middle frame, if
   that object is within ``max_assign_deg``; others are left out of this round;
2. the transform is refitted by weighted least squares that takes, for every object, the
   weighted mean position of the fixations assigned to it onto the weighted mean of its
   centroids in those fixations' frames (matching means rather than single fixations keeps
   the spread of fixations within an object from shrinking the scale); weights are the
   fixation durations times Cauchy weights ``1 / (1 + (d / robust_deg)^2)`` of each
   fixation's distance ``d`` to its object's region (0 inside; degrees turned into pixels at
   the fixations' median scale), so fixations that stay far off every object count little;
3. repeat until the assignments and the transform stop changing (or ``max_iter``).

Aiming at object centroids assumes the wearer's fixations are, on average, at the middle of
each object; scale is fitted from the spread between objects, so with a single object (or no
spread along an axis, for ``offset_scale_xy``) the fit falls back to an offset.  The result
reports the fitted transform in pixels and degrees and how far the fixations were from their
objects before and after; :func:`compare_mappings` counts how many samples the correction
moved from one object to another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

from gazevos.errors import GazevosError
from gazevos.gaze.geometry import CameraGeometry

MODELS = ("offset", "offset_scale", "offset_scale_xy")


@dataclass(frozen=True)
class CorrectionConfig:
    """Calibration-correction settings.

    Attributes:
        model: ``offset``, ``offset_scale`` (one scale; the default: on the real
            bleach-naruto sample the gaze is compressed towards the centre, which no offset
            fixes; with one object it falls back to an offset) or ``offset_scale_xy``.
        max_assign_deg: fixations farther than this from every object are left out.
        robust_deg: scale of the robust (Cauchy) weights on a fixation's distance to its
            object: a fixation this far off counts half.
        max_iter: iteration limit.
        min_fixations: fewer assigned fixations than this: no correction (identity).
        max_fixations: use at most this many fixations, the longest (bounds time and memory
            on long recordings).
        void_label: label value treated as background.
    """

    model: str = "offset_scale"
    max_assign_deg: float = 15.0
    robust_deg: float = 2.0
    max_iter: int = 30
    min_fixations: int = 3
    max_fixations: int = 2000
    void_label: int | None = 255


@dataclass(frozen=True)
class Correction:
    """A fitted gaze correction ``p' = c + S (p - c) + d`` and how it was obtained.

    Attributes:
        dx, dy: offset ``d`` in pixels (the shift of a gaze point at the principal point).
        sx, sy: scales (1 for the offset model).
        cx, cy: the centre of scaling (the principal point), pixels.
        dx_deg, dy_deg: the offset as visual angles at the principal point (signed: +x right,
            +y down).
        model: the model fitted (``offset`` when a scale model fell back to it).
        n_fixations: fixations given.
        n_used: fixations assigned to an object in the final round.
        iterations: rounds run.
        mean_dist_before_px, mean_dist_after_px: duration-weighted mean distance from the
            used fixations to their object's region (0 inside), before and after.
        mean_dist_before_deg, mean_dist_after_deg: the same in degrees (local scale).
        note: why the fit is the identity or fell back, if it did.
    """

    dx: float = 0.0
    dy: float = 0.0
    sx: float = 1.0
    sy: float = 1.0
    cx: float = 0.0
    cy: float = 0.0
    dx_deg: float = 0.0
    dy_deg: float = 0.0
    model: str = "offset"
    n_fixations: int = 0
    n_used: int = 0
    iterations: int = 0
    mean_dist_before_px: float = float("nan")
    mean_dist_after_px: float = float("nan")
    mean_dist_before_deg: float = float("nan")
    mean_dist_after_deg: float = float("nan")
    note: str = field(default="")

    def apply(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Corrected positions ``(x', y')`` (same shapes as ``x``, ``y``; NaN stays NaN)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        return (self.cx + self.sx * (x - self.cx) + self.dx,
                self.cy + self.sy * (y - self.cy) + self.dy)

    def apply_gaze(self, gaze: pd.DataFrame) -> pd.DataFrame:
        """A copy of a gaze (or fixation) table with ``x``/``y`` corrected; the originals are
        kept as ``x_raw``/``y_raw``."""
        out = gaze.copy()
        out["x_raw"] = out["x"]
        out["y_raw"] = out["y"]
        out["x"], out["y"] = self.apply(out["x"].to_numpy(float), out["y"].to_numpy(float))
        return out

    def as_dict(self) -> dict[str, object]:
        """Plain dict for reports."""
        return asdict(self)

    @property
    def is_identity(self) -> bool:
        """True when the correction changes nothing."""
        return self.dx == 0 and self.dy == 0 and self.sx == 1 and self.sy == 1


class _FrameObjects:
    """The objects of one label map, kept compact: bounding-box mask, outline, centroid."""

    def __init__(self, labels: np.ndarray, void_label: int | None) -> None:
        lab = np.asarray(labels)
        if lab.ndim != 2:
            raise GazevosError(f"label map must be (H, W), got shape {lab.shape}")
        lab = lab.astype(np.int64)
        if void_label is not None:
            lab = np.where(lab == void_label, 0, lab)
        lab = np.where(lab < 0, 0, lab)
        # per object: (id, row0, col0, crop mask, outline points (x, y) as pixel centres)
        self.objects: list[tuple[int, int, int, np.ndarray, np.ndarray]] = []
        self.centroids: dict[int, tuple[float, float]] = {}
        for k, sl in enumerate(ndimage.find_objects(lab)):
            if sl is None:
                continue
            oid = k + 1
            crop = lab[sl] == oid
            contours, _ = cv2.findContours(crop.astype(np.uint8), cv2.RETR_LIST,
                                           cv2.CHAIN_APPROX_NONE)
            pts = np.concatenate([c.reshape(-1, 2) for c in contours], axis=0).astype(float)
            pts += [sl[1].start + 0.5, sl[0].start + 0.5]
            rr, cc = np.nonzero(crop)
            self.centroids[oid] = (float(cc.mean() + sl[1].start + 0.5),
                                   float(rr.mean() + sl[0].start + 0.5))
            self.objects.append((oid, sl[0].start, sl[1].start, crop, pts))

    def nearest(self, x: float, y: float) -> tuple[int, float]:
        """``(object id, distance px)``: the object under ``(x, y)`` (distance 0) or the one
        whose outline pixel centre is nearest; ``(0, inf)`` when there is none."""
        if not self.objects or not (np.isfinite(x) and np.isfinite(y)):
            return 0, float("inf")
        c, r = int(np.floor(x)), int(np.floor(y))
        best, best_d = 0, float("inf")
        for oid, r0, c0, crop, pts in self.objects:
            if 0 <= r - r0 < crop.shape[0] and 0 <= c - c0 < crop.shape[1] \
                    and crop[r - r0, c - c0]:
                return oid, 0.0
            d = float(np.min(np.hypot(pts[:, 0] - x, pts[:, 1] - y)))
            if d < best_d:
                best, best_d = oid, d
        return best, best_d


def _middle_frames(fixations: pd.DataFrame) -> np.ndarray:
    if "start_frame" in fixations.columns and "end_frame" in fixations.columns:
        a = fixations["start_frame"].to_numpy(np.int64)
        b = fixations["end_frame"].to_numpy(np.int64)
        return np.where((a >= 0) & (b >= 0), (a + b) // 2, -1)
    if "frame" in fixations.columns:
        return fixations["frame"].to_numpy(np.int64)
    raise GazevosError("fixation table has no start_frame/end_frame (sync gaze to the video "
                       "before detecting fixations)")


def _solve(p: np.ndarray, t: np.ndarray, w: np.ndarray, c: np.ndarray, model: str
           ) -> tuple[float, float, float, float]:
    """Weighted least squares of ``t = c + S (p - c) + d``; returns ``(dx, dy, sx, sy)``."""
    q = p - c
    tq = t - c
    sw = np.sqrt(w)
    if model == "offset":
        d = (w[:, None] * (tq - q)).sum(axis=0) / w.sum()
        return float(d[0]), float(d[1]), 1.0, 1.0
    if model == "offset_scale_xy":
        out = []
        for k in range(2):
            a = np.stack([q[:, k], np.ones(len(q))], axis=1) * sw[:, None]
            sol, *_ = np.linalg.lstsq(a, tq[:, k] * sw, rcond=None)
            out.append(sol)
        return float(out[0][1]), float(out[1][1]), float(out[0][0]), float(out[1][0])
    n = len(q)
    a = np.zeros((2 * n, 3))
    a[:n, 0], a[:n, 1] = q[:, 0], 1.0
    a[n:, 0], a[n:, 2] = q[:, 1], 1.0
    b = np.concatenate([tq[:, 0], tq[:, 1]])
    ww = np.concatenate([sw, sw])
    sol, *_ = np.linalg.lstsq(a * ww[:, None], b * ww, rcond=None)
    return float(sol[1]), float(sol[2]), float(sol[0]), float(sol[0])


def _identifiable(p: np.ndarray, model: str) -> bool:
    """Enough spread among the per-object targets ``p`` ``(G, 2)`` for the scale terms."""
    if model == "offset":
        return True
    spread = np.ptp(p, axis=0) if len(p) else np.zeros(2)
    if model == "offset_scale":
        return bool(spread.max() > 1.0)
    return bool(spread.min() > 1.0)


def fit_correction(fixations: pd.DataFrame, label_maps: Callable[[int], np.ndarray | None],
                   geometry: CameraGeometry, config: CorrectionConfig | None = None
                   ) -> Correction:
    """Fit a calibration correction from fixations and the marked objects' label maps.

    Args:
        fixations: fixation table with ``x``, ``y`` (px), ``duration`` and ``start_frame`` /
            ``end_frame`` (the label map of the middle frame is used).
        label_maps: ``frame_index -> (H, W) label map`` (or None when unknown); called once
            per distinct middle frame.
        geometry: the scene camera (degrees <-> pixels).
        config: settings.

    Returns:
        The fitted :class:`Correction` (the identity, with a ``note``, when too few fixations
        lie near any object).
    """
    cfg = config or CorrectionConfig()
    if cfg.model not in MODELS:
        raise GazevosError(f"unknown correction model '{cfg.model}' (known: {', '.join(MODELS)})")
    cx, cy = geometry.principal_point
    base = Correction(cx=cx, cy=cy, model=cfg.model, n_fixations=len(fixations))
    if len(fixations) == 0:
        return _with(base, note="no fixations")
    frames = _middle_frames(fixations)
    p = fixations[["x", "y"]].to_numpy(float)
    dur = (fixations["duration"].to_numpy(float) if "duration" in fixations.columns
           else np.ones(len(p)))
    dur = np.where(np.isfinite(dur) & (dur > 0), dur, 1e-3)
    usable = np.isfinite(p).all(axis=1) & (frames >= 0)
    if usable.sum() > cfg.max_fixations:
        keep = np.flatnonzero(usable)[np.argsort(-dur[usable], kind="stable")]
        usable[keep[cfg.max_fixations:]] = False
    cache: dict[int, _FrameObjects | None] = {}
    for f in np.unique(frames[usable]):
        lab = label_maps(int(f))
        cache[int(f)] = None if lab is None else _FrameObjects(lab, cfg.void_label)
    deg_px = np.full(len(p), np.nan)
    deg_px[usable] = geometry.degrees_to_pixels(p[usable], 1.0)
    center = np.array([cx, cy])

    def assign(corr: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray, np.ndarray]:
        dx, dy, sx, sy = corr
        q = center + np.array([sx, sy]) * (p - center) + np.array([dx, dy])
        obj = np.zeros(len(p), dtype=np.int64)
        dist = np.full(len(p), np.inf)
        tgt = np.full((len(p), 2), np.nan)
        for i in np.flatnonzero(usable):
            fo = cache.get(int(frames[i]))
            if fo is None:
                continue
            o, d = fo.nearest(q[i, 0], q[i, 1])
            if o and d <= cfg.max_assign_deg * deg_px[i]:
                obj[i], dist[i], tgt[i] = o, d, fo.centroids[o]
        return obj, dist, tgt, q

    corr = (0.0, 0.0, 1.0, 1.0)
    obj0, dist0, _, _ = assign(corr)
    used0 = obj0 > 0
    if used0.sum() < cfg.min_fixations:
        return _with(base, n_used=int(used0.sum()),
                     note=f"only {int(used0.sum())} fixations within {cfg.max_assign_deg:g} deg "
                     f"of an object (need {cfg.min_fixations}); no correction")
    model = cfg.model
    note = ""
    prev_obj = None
    it = 0
    for it in range(1, cfg.max_iter + 1):  # noqa: B007
        obj, dist, tgt, _ = assign(corr)
        used = obj > 0
        if used.sum() < cfg.min_fixations:
            break
        scale = cfg.robust_deg * float(np.median(deg_px[used]))  # one pixel scale for all
        w = dur[used] / (1.0 + (dist[used] / scale) ** 2)
        # per object: weighted mean fixation position -> weighted mean of its centroids
        groups = obj[used]
        ids = np.unique(groups)
        gw = np.array([w[groups == g].sum() for g in ids])
        gp = np.stack([np.average(p[used][groups == g], axis=0, weights=w[groups == g])
                       for g in ids])
        gt = np.stack([np.average(tgt[used][groups == g], axis=0, weights=w[groups == g])
                       for g in ids])
        fit_model = model
        if not _identifiable(gt, model):
            fit_model = "offset"
            note = "a single object (or no spread between objects): scale not identifiable; " \
                   "fitted an offset only"
        new = _solve(gp, gt, gw, center, fit_model)
        change = max(abs(new[0] - corr[0]), abs(new[1] - corr[1]),
                     abs(new[2] - corr[2]) * 1000, abs(new[3] - corr[3]) * 1000)
        corr = new
        same = prev_obj is not None and np.array_equal(obj, prev_obj)
        prev_obj = obj
        if same and change < 1e-3:
            break
    obj1, dist1, _, _ = assign(corr)
    used1 = obj1 > 0
    dx, dy, sx, sy = corr
    rays = geometry.pixels_to_rays(np.array([[cx, cy], [cx + dx, cy], [cx, cy + dy]]))
    ang = np.degrees(np.arccos(np.clip(rays[1:] @ rays[0], -1.0, 1.0)))
    model_used = "offset" if note else model

    def mean_dist(dist: np.ndarray, used: np.ndarray, scale: float) -> float:
        if not used.any():
            return float("nan")
        d = dist[used] / (deg_px[used] if scale else 1.0)
        return float(np.average(d, weights=dur[used]))

    return _with(base, dx=dx, dy=dy, sx=sx, sy=sy,
                 dx_deg=float(np.copysign(ang[0], dx)), dy_deg=float(np.copysign(ang[1], dy)),
                 model=model_used, n_used=int(used1.sum()), iterations=it,
                 mean_dist_before_px=mean_dist(dist0, used0, 0),
                 mean_dist_after_px=mean_dist(dist1, used1, 0),
                 mean_dist_before_deg=mean_dist(dist0, used0, 1),
                 mean_dist_after_deg=mean_dist(dist1, used1, 1), note=note)


def _with(c: Correction, **changes: object) -> Correction:
    d = asdict(c)
    d.update(changes)
    return Correction(**d)  # type: ignore[arg-type]


def compare_mappings(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """How a correction moved samples between objects.

    Args:
        before, after: the same samples (same index) mapped without and with correction
            (columns ``object_id`` and ``hit``).

    Returns:
        One row per ``(from_object, to_object)`` pair with ``from != to``, column
        ``n_samples``; counts only samples valid in both mappings.  ``len`` of samples moved
        is ``result.n_samples.sum()``.
    """
    if len(before) != len(after) or not before.index.equals(after.index):
        raise GazevosError("the two mappings do not cover the same samples")
    valid = ~before["hit"].isin(("invalid", "unmapped")) & ~after["hit"].isin(
        ("invalid", "unmapped"))
    a = before.loc[valid, "object_id"].to_numpy(np.int64)
    b = after.loc[valid, "object_id"].to_numpy(np.int64)
    moved = a != b
    df = pd.DataFrame({"from_object": a[moved], "to_object": b[moved]})
    if df.empty:
        return pd.DataFrame({"from_object": pd.Series(dtype=np.int64),
                             "to_object": pd.Series(dtype=np.int64),
                             "n_samples": pd.Series(dtype=np.int64)})
    return (df.groupby(["from_object", "to_object"]).size().rename("n_samples")
            .reset_index().astype(np.int64))
