"""Mask and frame perturbations shared by RANet training pairs and the tracker's online
adaptation (inference code imports this module, never :mod:`gazevos.train`).

* :func:`jitter_mask`: a small random rotation / zoom / shift of a mask (M(t-1) noise);
* :func:`morph_mask`: a random erosion or dilation scaled to the object's size;
* :func:`object_affine`: a random rotation / zoom / shift about an object's centre.
"""

from __future__ import annotations

import cv2
import numpy as np


def jitter_mask(mask: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Rotate (+-5 degrees), zoom (``1 +- amount``) and shift (``+- amount`` of the image
    sides) a ``(H, W)`` mask at random, nearest-neighbour; ``amount <= 0``: unchanged."""
    if amount <= 0:
        return mask
    h, w = mask.shape
    ang = float(rng.uniform(-5, 5))
    s = float(rng.uniform(1 - amount, 1 + amount))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), ang, s)
    m[0, 2] += float(rng.uniform(-amount, amount) * w)
    m[1, 2] += float(rng.uniform(-amount, amount) * h)
    return cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST)


def morph_mask(mask: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Erode or dilate (coin flip) a ``(H, W)`` {0, 1} mask by a random radius of up to
    ``amount * sqrt(area)`` pixels; ``amount <= 0``: unchanged."""
    if amount <= 0:
        return mask
    area = float(mask.sum())
    r = int(round(rng.uniform(0.0, amount) * np.sqrt(area)))
    if r < 1:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    op = cv2.erode if rng.random() < 0.5 else cv2.dilate
    return op(mask, kernel)


def object_affine(rng: np.random.Generator, mask: np.ndarray, scale: float, rotate: float,
                  shift: float) -> np.ndarray:
    """Random 2x3 affine about the centre of ``mask``'s box (whole image if empty).

    Zoom ``exp(U(-log(1 + scale), log(1 + scale)))``, rotation ``U(-rotate, rotate)``
    degrees, then a shift of ``U(-shift, shift)`` times the box's width / height.
    """
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    h, w = mask.shape
    if ys.size:
        y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    else:
        y0, y1, x0, x1 = 0, h, 0, w
    centre = ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    lim = np.log1p(max(scale, 0.0))
    zoom = float(np.exp(rng.uniform(-lim, lim)))
    m = cv2.getRotationMatrix2D(centre, float(rng.uniform(-rotate, rotate)), zoom)
    m[0, 2] += float(rng.uniform(-shift, shift)) * (x1 - x0)
    m[1, 2] += float(rng.uniform(-shift, shift)) * (y1 - y0)
    return m
