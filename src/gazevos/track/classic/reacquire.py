"""The lost-object search of the ``classic`` tracker (I/O-free functions).

While an object is lost, every classified frame is searched for a region that matches it:
a classifier scores the whole frame (on a coarse grid), its connected regions above 0.5
are candidates, and a candidate must have a plausible area, a high enough mean
probability (lenient near the last position, strict anywhere else) and a colour histogram
like the given object's.

Which classifier scores the frame is ``reacquire_model``: the tracking classifier
(``tracking``: anchors plus recent samples, position features relative to the last
position) or one fitted on the given mask's samples only, without position features
(``anchor``): by the time an object is lost the recent samples may be those of a mask that
drifted onto the background, and the last position may be the background's
(``anchor-after-collapse``: the anchor classifier unless the object was lost at a view
change, when the tracking classifier had seen no drift).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from gazevos.track.classic.classifier import AppearanceModel, Booster, probability
from gazevos.track.classic.config import ClassicConfig
from gazevos.track.classic.features import colour_histogram, histogram_similarity


def fit_anchor_classifier(model: AppearanceModel, n_features: int
                          ) -> Booster | None:
    """A classifier of the given mask's samples (``model``'s anchors) on their first
    ``n_features`` columns (the position columns dropped); None without both classes."""
    anchor = model.anchor
    if anchor is None:
        return None
    x, y = anchor
    if y.size == 0 or y.min() == y.max():
        return None
    return model.train(x[:, :n_features], y)


def anchor_predict(state: Any, cfg: ClassicConfig, x: np.ndarray) -> np.ndarray | None:
    """``(n,)`` object probability of feature rows ``x (n, F)`` (no position columns) from
    the classifier of the given mask's samples alone, or None when there is none.

    ``state`` is the tracker's per-object state: its ``model`` (the anchors) and
    ``anchor_clf`` (None: not fitted yet, fitted here; False: cannot be fitted).
    """
    if state.anchor_clf is None:
        state.anchor_clf = fit_anchor_classifier(state.model, x.shape[1]) or False
    if state.anchor_clf is False:
        return None
    return probability(state.anchor_clf, x, cfg.boost_threads)


def pick_region(pc: np.ndarray, lab_img: np.ndarray, hist: np.ndarray,
                centroid: tuple[float, float], size: float, ref_area: float,
                cfg: ClassicConfig, anywhere: bool = False) -> np.ndarray | None:
    """The candidate region that best matches a lost object, or None.

    Args:
        pc: ``(h, w)`` object probability of every pixel.
        lab_img: ``(3, h, w)`` LAB planes (the first three feature planes).
        hist: the given object's colour histogram.
        centroid, size: the object's last position (row, column) and size, pixels.
        ref_area: its reference area, pixels.
        anywhere: the last position says nothing (a view change): the strict probability
            test everywhere.

    Returns:
        ``(h, w)`` bool mask of the chosen region.
    """
    h, w = pc.shape
    cand = (pc > 0.5).astype(np.uint8)
    n, lab, stats, cents = cv2.connectedComponentsWithStats(cand, connectivity=8)
    if n <= 1:
        return None
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    mean_p = np.bincount(lab.ravel(), weights=pc.ravel(), minlength=n) / np.maximum(areas, 1)
    d = np.hypot(cents[:, 1] - centroid[0], cents[:, 0] - centroid[1]) / max(size, 1)
    ok = (areas >= cfg.reacquire_min_area * ref_area) & (areas <= cfg.reacquire_max_area
                                                         * ref_area)
    near = (d <= cfg.reacquire_near_radius) & (not anywhere)
    ok &= np.where(near, mean_p >= cfg.reacquire_near_probability,
                   mean_p >= cfg.reacquire_far_probability)
    ok[0] = False
    sim = np.zeros(n)
    flat = lab.ravel()
    lab_flat = lab_img.reshape(3, h * w)
    for j in np.flatnonzero(ok):       # colours must match the given object's
        sim[j] = histogram_similarity(colour_histogram(lab_flat[:, flat == j].T,
                                                       cfg.histogram_bins), hist)
        ok[j] = sim[j] >= cfg.reacquire_min_similarity
    if not ok.any():
        return None
    first = sim if cfg.reacquire_rank == "similarity" else mean_p
    score = np.where(ok, first - 0.01 * d, -np.inf)
    return lab == int(np.argmax(score))
