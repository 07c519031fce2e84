"""DAVIS region (J) and boundary (F) measures and their per-object statistics.

I/O-free re-implementation of the measures of the official DAVIS evaluation
(``davis2017-evaluation``, semi-supervised protocol):

* :func:`db_eval_iou` -- region similarity J, the Jaccard index of two binary masks
  (1 when both are empty);
* :func:`db_eval_boundary` -- boundary F-measure: one-pixel boundary maps
  (:func:`seg2bmap`), each dilated by a disk of radius ``ceil(bound_th * diagonal)``,
  precision and recall of the matched boundary pixels;
* :func:`db_statistics` -- mean, recall (fraction of frames above 0.5) and decay
  (first-quarter mean minus last-quarter mean) of a per-frame series.

Masks are boolean ``(H, W)`` or ``(T, H, W)`` arrays; void pixels (optional, same shape)
are removed from both masks before measuring.
"""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np

__all__ = [
    "boundary_radius",
    "db_eval_boundary",
    "db_eval_iou",
    "db_statistics",
    "decay_bins",
    "disk",
    "f_measure",
    "seg2bmap",
]


def _check(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None) -> None:
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    if void is not None and void.shape != gt.shape:
        raise ValueError(f"void mask {void.shape} and ground truth {gt.shape} differ in shape")
    if gt.ndim not in (2, 3):
        raise ValueError(f"masks must be (H, W) or (T, H, W), got {gt.ndim} dimensions")


def db_eval_iou(gt: np.ndarray, pred: np.ndarray,
                void: np.ndarray | None = None) -> float | np.ndarray:
    """Region similarity J (intersection over union), per frame.

    Args:
        gt: ``(H, W)`` or ``(T, H, W)`` ground-truth mask (non-zero = object).
        pred: predicted mask of the same shape.
        void: optional mask of pixels to ignore, same shape.

    Returns:
        A float for ``(H, W)`` input, a ``(T,)`` float64 array for ``(T, H, W)`` input.
        A frame where both masks are empty (outside void) scores 1.
    """
    gt = np.asarray(gt).astype(bool)
    pred = np.asarray(pred).astype(bool)
    void = None if void is None else np.asarray(void).astype(bool)
    _check(gt, pred, void)
    keep = np.ones_like(gt) if void is None else ~void
    inter = np.count_nonzero(gt & pred & keep, axis=(-2, -1))
    union = np.count_nonzero((gt | pred) & keep, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return float(j) if gt.ndim == 2 else j.astype(np.float64)


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a binary mask (boundaries offset half a pixel up-left).

    A pixel is a boundary pixel when it differs from its right, lower or lower-right
    neighbour (pixels past the image edge count as background), except that on the
    last row only the right neighbour counts, on the last column only the lower one,
    and the bottom-right corner never is a boundary (the convention of D. Martin's
    ``seg2bmap`` used by the DAVIS benchmark).

    Args:
        seg: ``(H, W)`` or ``(T, H, W)`` mask (non-zero = object).

    Returns:
        Boolean boundary map of the same shape.
    """
    seg = np.asarray(seg).astype(bool)
    right = np.zeros_like(seg)
    down = np.zeros_like(seg)
    diag = np.zeros_like(seg)
    right[..., :, :-1] = seg[..., :, 1:]
    down[..., :-1, :] = seg[..., 1:, :]
    diag[..., :-1, :-1] = seg[..., 1:, 1:]
    b = (seg ^ right) | (seg ^ down) | (seg ^ diag)
    b[..., -1, :] = seg[..., -1, :] ^ right[..., -1, :]
    b[..., :, -1] = seg[..., :, -1] ^ down[..., :, -1]
    b[..., -1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    """``(2r+1, 2r+1)`` uint8 disk footprint: 1 where ``dx**2 + dy**2 <= r**2``."""
    r = int(radius)
    if r < 0:
        raise ValueError(f"disk radius must be >= 0, got {radius}")
    d = np.arange(-r, r + 1)
    return ((d[:, None] ** 2 + d[None, :] ** 2) <= r * r).astype(np.uint8)


def boundary_radius(shape: tuple[int, int], bound_th: float = 0.008) -> int:
    """Match tolerance in pixels: ``ceil(bound_th * diagonal)`` when ``bound_th < 1``.

    A ``bound_th >= 1`` is a radius in pixels already (taken as an integer, rounded down).
    """
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(shape[0], shape[1])))


def _precision_recall_f(n_fg: int, n_gt: int, fg_match: int, gt_match: int) -> float:
    """F from boundary pixel counts, with the official conventions for empty boundaries."""
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision, recall = fg_match / n_fg, gt_match / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def _crop_box(a: np.ndarray, b: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Rows and columns holding any pixel of ``a`` or ``b``, grown by ``margin``."""
    both = a | b
    rows = np.flatnonzero(both.any(axis=1))
    cols = np.flatnonzero(both.any(axis=0))
    h, w = both.shape
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, h)),
            slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, w)))


def f_measure(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
              bound_th: float = 0.008) -> float:
    """Boundary F-measure of one ``(H, W)`` frame (see :func:`db_eval_boundary`)."""
    gt = np.asarray(gt).astype(bool)
    pred = np.asarray(pred).astype(bool)
    if void is not None:
        keep = ~np.asarray(void).astype(bool)
        gt, pred = gt & keep, pred & keep
    radius = boundary_radius(gt.shape, bound_th)
    fg_b = seg2bmap(pred)
    gt_b = seg2bmap(gt)
    n_fg = int(np.count_nonzero(fg_b))
    n_gt = int(np.count_nonzero(gt_b))
    if n_fg == 0 or n_gt == 0:
        return _precision_recall_f(n_fg, n_gt, 0, 0)
    # dilation only matters near the boundaries: work on their bounding box (exact)
    ys, xs = _crop_box(fg_b, gt_b, radius)
    fg_b = np.ascontiguousarray(fg_b[ys, xs])
    gt_b = np.ascontiguousarray(gt_b[ys, xs])
    kernel = disk(radius)
    fg_dil = cv2.dilate(fg_b.view(np.uint8), kernel).view(bool)
    gt_dil = cv2.dilate(gt_b.view(np.uint8), kernel).view(bool)
    fg_match = int(np.count_nonzero(fg_b & gt_dil))
    gt_match = int(np.count_nonzero(gt_b & fg_dil))
    return _precision_recall_f(n_fg, n_gt, fg_match, gt_match)


def db_eval_boundary(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
                     bound_th: float = 0.008) -> float | np.ndarray:
    """Boundary measure F, per frame.

    Boundary maps of ``pred`` and ``gt`` (void pixels removed first) are compared with a
    tolerance of ``ceil(bound_th * sqrt(H**2 + W**2))`` pixels (a disk dilation): precision
    is the fraction of predicted boundary pixels near a true one, recall the converse.
    No predicted boundary gives precision 1, recall 0 (and the converse); no boundary in
    either gives 1; F is 0 when precision + recall is 0.

    Args:
        gt: ``(H, W)`` or ``(T, H, W)`` ground-truth mask (non-zero = object).
        pred: predicted mask of the same shape.
        void: optional mask of pixels to ignore, same shape.
        bound_th: tolerance as a fraction of the image diagonal (``< 1``) or in pixels.

    Returns:
        A float for ``(H, W)`` input, a ``(T,)`` float64 array for ``(T, H, W)`` input.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    void = None if void is None else np.asarray(void)
    _check(gt, pred, void)
    if gt.ndim == 2:
        return f_measure(gt, pred, void, bound_th)
    return np.array([f_measure(gt[t], pred[t], None if void is None else void[t], bound_th)
                     for t in range(gt.shape[0])], dtype=np.float64)


def decay_bins(n: int, n_bins: int = 4) -> list[slice]:
    """The ``n_bins`` (overlapping) quantile bins of an ``n``-frame series used for decay.

    Bin edges are ``round(linspace(1, n, n_bins + 1) + 1e-10) - 1``; bin ``i`` spans edges
    ``i`` to ``i + 1`` inclusive.  Indices are plain integers (no 8-bit wrap-around for
    series longer than 256 frames).
    """
    edges = (np.round(np.linspace(1, n, n_bins + 1) + 1e-10) - 1).astype(np.int64)
    return [slice(int(edges[i]), int(edges[i + 1]) + 1) for i in range(n_bins)]


def db_statistics(per_frame: np.ndarray) -> tuple[float, float, float]:
    """Mean, recall and decay of a per-frame measure (J or F) of one object.

    Args:
        per_frame: ``(T,)`` per-frame values (NaNs are ignored).

    Returns:
        ``(mean, recall, decay)``: the mean; the fraction of frames scoring above 0.5;
        the mean over the first quarter minus the mean over the last quarter
        (:func:`decay_bins`).
    """
    v = np.asarray(per_frame, dtype=np.float64).reshape(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(v))
        recall = float(np.nanmean(v > 0.5))
        bins = decay_bins(len(v))
        decay = float(np.nanmean(v[bins[0]]) - np.nanmean(v[bins[-1]]))
    return mean, recall, decay
