"""How far the optical flow can be trusted: I/O-free checks of the ``classic`` tracker.

* :func:`inconsistent`: the forward-backward check, per pixel;
* :func:`photometric_inconsistent`: the grey-level check, per pixel;
* :func:`warp_error`: how well the flow explains the frame, over the whole frame and
  inside the objects (adaptive carrying, ``skip_error_ratio``).
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np


def inconsistent(fwd: np.ndarray, back: np.ndarray, mx: np.ndarray, my: np.ndarray,
                 relative: float, absolute: float) -> np.ndarray:
    """``(h, w)`` bool: pixels whose backward flow the forward flow does not undo.

    Forward-backward check (Sundaram et al., ECCV 2010): pixel x is unreliable when
    ``|f(x + b(x)) + b(x)|^2 > relative (|f|^2 + |b|^2) + absolute``; these are mostly
    pixels that an object uncovered (its trailing edge), which backward warping would wrongly
    give the object's probability.

    Args:
        fwd: ``(h, w, 2)`` flow from the previous frame to this one.
        back: ``(h, w, 2)`` flow from this frame to the previous one.
        mx, my: ``(h, w)`` float32 sampling maps ``x + back_x``, ``y + back_y``.
    """
    f = cv2.remap(fwd, mx, my, interpolation=cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_REPLICATE)
    d = f + back                  # einsum: 3x faster than (d ** 2).sum(axis=-1), same values
    err = np.einsum("...i,...i->...", d, d)
    mag = np.einsum("...i,...i->...", f, f) + np.einsum("...i,...i->...", back, back)
    return err > relative * mag + absolute


def warped_difference(gray: np.ndarray, prev_gray: np.ndarray, mx: np.ndarray,
                      my: np.ndarray) -> np.ndarray:
    """``(h, w)`` uint8 ``|gray - prev_gray warped by the flow|``: how far the flow (sampling
    maps ``mx``, ``my``) fails to bring each pixel's grey level from the previous frame; the
    input of :func:`photometric_inconsistent` and :func:`warp_error`."""
    back = cv2.remap(prev_gray, mx, my, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    return cv2.absdiff(gray, back)


def photometric_inconsistent(diff: np.ndarray, threshold: float) -> np.ndarray:
    """``(h, w)`` bool: pixels whose grey level the flow does not bring from the previous
    frame, ``diff > threshold`` (``diff``: :func:`warped_difference`, grey levels); a
    cheaper stand-in for :func:`inconsistent` (no second optical flow)."""
    return diff > threshold


def warp_error(diff: np.ndarray, masks: Iterable[np.ndarray]) -> tuple[float, float]:
    """How badly the flow explains a frame: ``(whole frame, worst object)``.

    The mean of ``diff`` (:func:`warped_difference`) over the whole frame, and inside each
    of ``masks`` (``(h, w)`` probabilities, > 0.5 inside; the largest of their means, 0 when
    none has a pixel).
    """
    worst = 0.0
    for p in masks:
        inside = p > 0.5
        if inside.any():    # OpenCV's masked mean: an exact sum of grey levels, as numpy's
            worst = max(worst, cv2.mean(diff, mask=inside.view(np.uint8))[0])
    return float(diff.mean()), worst
