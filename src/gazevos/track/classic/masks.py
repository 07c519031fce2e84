"""Per-pixel fusion and mask clean-up of the ``classic`` tracker (I/O-free functions)."""

from __future__ import annotations

import cv2
import numpy as np

from gazevos.track.classic.config import ClassicConfig


def _logit(p: np.ndarray, low: float, high: float) -> np.ndarray:
    p = np.clip(p, low, high)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def fuse(prior: np.ndarray, classifier: np.ndarray, cfg: ClassicConfig) -> np.ndarray:
    """Fuse prior and classifier probabilities (same shape) in weighted log-odds."""
    z = (cfg.prior_weight * _logit(prior, cfg.prior_min, cfg.prior_max)
         + cfg.classifier_weight * _logit(classifier, cfg.classifier_floor,
                                          1.0 - cfg.classifier_floor)
         + cfg.fusion_bias)
    return _sigmoid(z)


def _far_components(lab: np.ndarray, areas: np.ndarray, max_gap: float) -> np.ndarray:
    """``(n,)`` bool: components of ``lab`` farther than ``max_gap`` pixels from the
    largest one (``areas``: -1 for components to ignore; label 0 is the background)."""
    n = areas.size
    largest = 1 + int(np.argmax(areas[1:]))
    dist = cv2.distanceTransform((lab != largest).astype(np.uint8), cv2.DIST_L2, 3)
    flat = lab.ravel()
    on = flat > 0
    gap = np.full(n, np.inf)
    np.minimum.at(gap, flat[on], dist.ravel()[on])
    far = (gap > max_gap) & (areas > 0)
    far[0] = far[largest] = False
    return far


def clean_mask(prob: np.ndarray, prior: np.ndarray, keep_min_prior: float,
               hole_fraction: float, min_component_fraction: float = 0.0,
               max_gap: float = 0.0) -> np.ndarray:
    """Drop fused components that miss the prior and fill small holes.

    Args:
        prob: ``(h, w)`` fused object probability.
        prior: ``(h, w)`` warped prior probability.
        keep_min_prior: a component of ``prob > 0.5`` survives if its mean prior reaches this.
        hole_fraction: enclosed background regions smaller than this fraction of the object
            area become object.
        min_component_fraction: components smaller than this fraction of the largest
            one are dropped too.
        max_gap: components (of those kept) farther than this many pixels from the
            largest one are dropped as well, to zero probability (0: off).

    Returns:
        ``(h, w)`` float32 cleaned probability (dropped components take ``min(prob, prior)``,
        filled holes at least 0.5 + half their distance to one).
    """
    out = prob.astype(np.float32, copy=True)
    fg_full = (prob > 0.5).astype(np.uint8)
    h, w = fg_full.shape
    # every component lies in the bounding box of the mask, and so does every hole: the
    # labelling works there (with a one-pixel background ring, which joins the outside)
    bx, by, bw, bh = cv2.boundingRect(fg_full)
    y0, y1 = max(by - 1, 0), min(by + bh + 1, h)
    x0, x1 = max(bx - 1, 0), min(bx + bw + 1, w)
    box = (slice(y0, y1), slice(x0, x1))
    fg, sub, pri = fg_full[box], out[box], prior[box]
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n > 1:
        mass = np.bincount(lab.ravel(), weights=pri.ravel(), minlength=n)
        mean_prior = mass / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
        areas = stats[:, cv2.CC_STAT_AREA]
        drop = mean_prior < keep_min_prior
        drop |= areas < min_component_fraction * areas[1:].max()
        drop[0] = False
        if drop.any():
            dm = drop[lab]
            sub[dm] = np.minimum(sub[dm], pri[dm])
            fg[dm] = 0
        if max_gap > 0 and (~drop[1:]).sum() > 1:
            far = _far_components(lab, np.where(drop, -1, areas), max_gap)
            if far.any():
                fm = far[lab]
                sub[fm] = 0.0
                fg[fm] = 0
    area = int(fg.sum())
    if area and hole_fraction > 0:
        n, lab, stats, _ = cv2.connectedComponentsWithStats(1 - fg, connectivity=4)
        sh, sw = fg.shape
        cx0, cy0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        cx1, cy1 = cx0 + stats[:, cv2.CC_STAT_WIDTH], cy0 + stats[:, cv2.CC_STAT_HEIGHT]
        # a hole touches neither the frame's edge nor the ring (the outside)
        inner = (cx0 > 0) & (cy0 > 0) & (cx1 < sw) & (cy1 < sh)
        small = stats[:, cv2.CC_STAT_AREA] < hole_fraction * area
        fill = inner & small
        if fill.any():
            hm = fill[lab]
            sub[hm] = 0.5 + 0.5 * np.maximum(sub[hm], 0.5)
    return out


def near_window(mask: np.ndarray, reach: float, step: int = 1) -> tuple[slice, slice]:
    """The rectangle of pixels that can lie within ``reach`` of a non-empty ``(h, w)`` mask.

    Distances are ``cv2.distanceTransform``'s (L2, 3x3 chamfer: at least 0.955 a step).
    Within the rectangle, which holds the whole mask, they equal those of the whole frame
    (a shortest chamfer path stays in the bounding box of its ends); every pixel outside it
    is farther than ``reach``.  Its top-left corner lies on multiples of ``step``, so that
    a grid of every ``step``-th row and column keeps its places.

    Returns:
        ``(rows, columns)`` slices of the frame.
    """
    h, w = mask.shape
    x, y, bw, bh = cv2.boundingRect(mask.view(np.uint8))
    m = int(reach / 0.95) + 2
    return (slice(max(0, y - m) // step * step, min(h, y + bh + m)),
            slice(max(0, x - m) // step * step, min(w, x + bw + m)))
