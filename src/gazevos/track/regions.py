"""Mask geometry shared by the trackers: the enlarged bounding-box crop and the filter
that drops an object's far-away components."""

from __future__ import annotations

import cv2
import numpy as np


def crop_box(mask: np.ndarray, scale: float, aspect: float, min_frac: float = 0.0
             ) -> tuple[int, int, int, int] | None:
    """Enlarged box around a binary mask, as ``(y0, x0, y1, x1)`` (exclusive ends).

    The tight box is scaled by ``scale`` about its centre, widened so that
    ``height / width == aspect`` (the larger side wins), at least ``min_frac`` of the
    frame in each side, then clipped to the frame.  ``None`` for an empty mask.

    Args:
        mask: ``(H, W)`` bool.
        scale: enlargement (1.5 in RANet).
        aspect: network input height / width.
        min_frac: minimum side as a fraction of the frame side.
    """
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    if ys.size == 0:
        return None
    h, w = mask.shape
    cy, cx = (ys[0] + ys[-1] + 1) / 2.0, (xs[0] + xs[-1] + 1) / 2.0
    bh = max((ys[-1] - ys[0] + 1) * scale, min_frac * h)
    bw = max((xs[-1] - xs[0] + 1) * scale, min_frac * w)
    bh = max(bh, aspect * bw)
    bw = bh / aspect
    y0, y1 = int(np.floor(cy - bh / 2)), int(np.ceil(cy + bh / 2))
    x0, x1 = int(np.floor(cx - bw / 2)), int(np.ceil(cx + bw / 2))
    return max(0, y0), max(0, x0), min(h, y1), min(w, x1)


def keep_near_components(prob: np.ndarray, prev: np.ndarray, radius: float,
                         keep: float = 0.5, clip: float = 0.0) -> np.ndarray:
    """Drop the components of ``prob > 0.5`` that lie far from the previous mask.

    Args:
        prob: ``(H, W)`` new object probability.
        prev: ``(H, W)`` previous probability (or mask) of the same object.
        radius: the "near" distance, as a multiple of sqrt(area of ``prev > 0.5``).
        keep: a component survives when at least this share of its pixels is near.
        clip: > 0: also zero every pixel farther than ``clip`` x sqrt(area) from the
            previous mask, whatever its component.

    Returns:
        ``(H, W)`` float32: ``prob`` with the dropped components (and clipped pixels)
        set to 0.  Unchanged when ``prev`` is empty or when every component would be
        dropped (the object jumped: better a jump than a lost object).
    """
    old = prev > 0.5
    area = int(old.sum())
    fg = (prob > 0.5).astype(np.uint8)
    if area == 0 or radius <= 0:
        return prob
    n, lab = cv2.connectedComponents(fg, connectivity=8)
    if n <= 1:
        return prob
    dist = cv2.distanceTransform((~old).astype(np.uint8), cv2.DIST_L2, 3)
    near = (dist <= radius * np.sqrt(area)).ravel()
    flat = lab.ravel()
    sizes = np.bincount(flat, minlength=n)
    hits = np.bincount(flat, weights=near, minlength=n)
    drop = hits < keep * np.maximum(sizes, 1)
    drop[0] = False
    if drop[1:].all():
        return prob
    out = prob.astype(np.float32, copy=True)
    if drop.any():
        out[drop[lab]] = 0.0
    if clip > 0:
        out[dist > clip * np.sqrt(area)] = 0.0
    return out
