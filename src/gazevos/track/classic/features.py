"""Per-pixel features of the ``classic`` tracker's appearance model.

Three groups, all cheap (box filters and Sobel derivatives on a downscaled frame):

* colour: CIE-LAB of the pixel and LAB means over square windows of several radii;
* texture: local standard deviation of lightness and smoothed gradient energy;
* position: coordinates relative to the object's centroid, in units of the object size
  (computed per sample from a reference mask, see :func:`position_features`).

A learned encoder can add channels through the :class:`FeatureExtractor` protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from gazevos.errors import GazevosError


@runtime_checkable
class FeatureExtractor(Protocol):
    """A learned per-pixel encoder whose output the appearance model takes as extra features.

    Called once per frame on the full ``(H, W, 3)`` uint8 RGB image; returns ``(h, w, C)``
    float32 features at any resolution (they are resized to the tracker's work grid and
    added as planes, see :func:`learned_features`).
    """

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


def _box_mean(x: np.ndarray, radius: int, out: np.ndarray | None = None) -> np.ndarray:
    """Mean over a ``(2 radius + 1)`` square window, same shape as ``x`` (into ``out``)."""
    k = 2 * radius + 1
    return cv2.boxFilter(x, cv2.CV_32F, (k, k), dst=out, borderType=cv2.BORDER_REFLECT)


def pixel_features(image: np.ndarray, mean_radii: tuple[int, ...], texture_radius: int
                   ) -> np.ndarray:
    """Colour and texture features of every pixel, one plane per feature.

    Planes, not ``(h, w, F)``: each is made in place by OpenCV, where interleaving the
    channels cost more than all the filters together (11 against 2 ms a 433x244 frame).

    Args:
        image: ``(h, w, 3)`` uint8 RGB (already at the work resolution).
        mean_radii: radii (pixels) of the square windows of the LAB local means.
        texture_radius: radius of the window of the local lightness deviation and
            the gradient energy.

    Returns:
        ``(3 + 3 * len(mean_radii) + 4, h, w)`` float32: L, a, b; LAB means per radius;
        local std of L; gradient magnitude; local mean gradient energy; local mean of
        the signed vertical-minus-horizontal gradient energy (edge orientation).
    """
    h, w = image.shape[:2]
    out = np.empty((n_pixel_features(mean_radii), h, w), dtype=np.float32)
    for k, plane in enumerate(cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2LAB))):
        out[k] = plane
    j = 3
    for r in mean_radii:
        for k in range(3):
            _box_mean(out[k], r, out[j])
            j += 1
    light = out[0]
    m = _box_mean(light, texture_radius)
    var = _box_mean(light * light, texture_radius)
    var -= m * m
    np.sqrt(np.maximum(var, 0.0, out=var), out=out[j])
    gx2 = cv2.Sobel(light, cv2.CV_32F, 1, 0, ksize=3)
    gy2 = cv2.Sobel(light, cv2.CV_32F, 0, 1, ksize=3)
    gx2 *= gx2
    gy2 *= gy2
    e2 = gx2 + gy2
    np.sqrt(e2, out=out[j + 1])
    energy = np.sqrt(_box_mean(e2, texture_radius), out=out[j + 2])
    gy2 -= gx2
    np.divide(_box_mean(gy2, texture_radius), energy * energy + 1.0, out=out[j + 3])
    return out


def feature_rows(planes: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``(n, F)`` features of flat pixel indices ``idx`` from ``(F, h, w)`` planes."""
    return planes.reshape(planes.shape[0], -1)[:, idx].T


def n_pixel_features(mean_radii: tuple[int, ...]) -> int:
    """Number of channels :func:`pixel_features` returns."""
    return 3 + 3 * len(mean_radii) + 4


def position_features(ys: np.ndarray, xs: np.ndarray, centroid: tuple[float, float],
                      scale: float) -> np.ndarray:
    """Coordinates of pixels relative to an object, in object-size units.

    Args:
        ys, xs: ``(n,)`` pixel rows and columns.
        centroid: the object's ``(row, column)`` centre.
        scale: the object's size (square root of its area), pixels.

    Returns:
        ``(n, 2)`` float32: ``(row - cy) / scale``, ``(column - cx) / scale``.
    """
    s = max(float(scale), 1.0)
    return np.stack([(ys - centroid[0]) / s, (xs - centroid[1]) / s], axis=1).astype(np.float32)


def mask_geometry(mask: np.ndarray) -> tuple[tuple[float, float], float, int] | None:
    """Centroid ``(row, col)``, size (sqrt of area) and area of a boolean ``(h, w)`` mask.

    Returns None when the mask is empty.
    """
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    area = m["m00"]
    if area <= 0:
        return None
    return (m["m01"] / area, m["m10"] / area), float(np.sqrt(area)), int(area)


def colour_histogram(lab: np.ndarray, bins: int) -> np.ndarray:
    """Normalised joint LAB histogram of ``(n, 3)`` LAB samples (OpenCV 8-bit ranges).

    Returns:
        ``(bins ** 3,)`` float64 summing to 1 (all zero for no samples).
    """
    q = np.clip((lab.astype(np.float32) * (bins / 256.0)).astype(np.int64), 0, bins - 1)
    h = np.bincount((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2], minlength=bins ** 3)
    total = h.sum()
    return h / total if total else h.astype(np.float64)


def histogram_similarity(p: np.ndarray, q: np.ndarray) -> float:
    """Bhattacharyya coefficient of two normalised histograms: 1 identical, 0 disjoint."""
    return float(np.sqrt(p * q).sum())


def learned_features(extractor: FeatureExtractor, image: np.ndarray, size: tuple[int, int]
                     ) -> np.ndarray:
    """Run a learned extractor and resize its ``(h', w', C)`` output to ``size = (h, w)``.

    Returns:
        ``(C, h, w)`` float32 planes, as :func:`pixel_features` makes them.

    Raises:
        GazevosError: the extractor's output is not a 3-d array.
    """
    out = np.asarray(extractor(image), dtype=np.float32)
    if out.ndim != 3:
        raise GazevosError(f"feature extractor must return (h, w, C) features, got shape "
                           f"{out.shape}")
    h, w = size
    if out.shape[:2] != (h, w):
        c = out.shape[2]
        # cv2.resize handles at most 512 channels and drops a trailing 1-channel axis
        parts = [cv2.resize(out[..., i:i + 256], (w, h), interpolation=cv2.INTER_LINEAR)
                 for i in range(0, c, 256)]
        out = np.concatenate([p.reshape(h, w, -1) for p in parts], axis=-1)
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)
