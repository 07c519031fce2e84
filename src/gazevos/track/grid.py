"""Work-grid predictions at the frame size without frame-size probabilities.

A tracker that answers on a work grid ``(h, w)`` smaller than the frame ``(H, W)`` (``classic``
on a 1080p video: 442x249) used to have its ``(K + 1, h, w)`` distribution upsampled to the
frame (:func:`gazevos.track.base.upsample`, bilinear), the label map taken there
(:func:`~gazevos.track.base.argmax_labels`), and each object's frame-size probability shrunk
back to the grid as its next prior (:func:`~gazevos.track.base.shrink`).  At 1080p those
three cost about 15 ms of CPU a frame with two objects.  :class:`GridResampler` gives the
same two results from the grid alone:

* :meth:`GridResampler.labels`: the frame-size label map.  Bilinear weights are convex, so a
  frame pixel whose four grid neighbours all carry the same label keeps it; only the pixels
  near a label boundary of the grid are interpolated, one by one.  The result equals
  ``argmax_labels(upsample(probs, (H, W)), ids)`` except where two upsampled probabilities
  tie to float rounding.
* :meth:`GridResampler.round_trip`: ``shrink(upsample(p, (H, W)), (w, h))`` as two sparse
  matrix products ``R_y p R_x^T``.  Both resizes are separable, so the round trip is; its
  one-dimensional operators are made once per video by sending unit impulses through the
  same OpenCV resizes (equal to the frame-size round trip to float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import scipy.sparse as sp

__all__ = ["GridResampler", "argmax_labels", "halving_sizes"]


def argmax_labels(probs: np.ndarray, object_ids: Sequence[int]) -> np.ndarray:
    """``(H, W)`` uint8 label map from ``(K + 1, H, W)`` probabilities (first max wins).

    Channel 0 maps to 0, channel ``k`` to ``object_ids[k - 1]``; equal to
    ``lut[np.argmax(probs, axis=0)]`` but faster for few objects.
    """
    best = probs[0].copy()
    labels = np.zeros(probs.shape[1:], dtype=np.uint8)
    for k, i in enumerate(object_ids, start=1):
        better = probs[k] > best
        labels[better] = i
        np.maximum(best, probs[k], out=best)
    return labels


def _linear_taps(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps of an ``n_src -> n_dst`` resize, as OpenCV's ``INTER_LINEAR`` places
    them (pixel centres, edges clamped): ``(i0, i1, a)``, each ``(n_dst,)``; the value at
    ``d`` is ``(1 - a) src[i0] + a src[i1]``."""
    scale = 1.0 / (n_dst / n_src)     # as OpenCV computes it
    f = ((np.arange(n_dst) + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    a = (f - i0).astype(np.float32)
    low, high = i0 < 0, i0 >= n_src - 1
    a[low | high] = 0.0
    i0[low] = 0
    i0[high] = n_src - 1
    return i0, np.minimum(i0 + 1, n_src - 1), a


def halving_sizes(frame: tuple[int, int], grid: tuple[int, int]) -> list[tuple[int, int]]:
    """The ``(H, W)`` sizes :func:`gazevos.track.base.shrink` passes through on its way from
    ``frame`` to ``grid``, the frame first: it halves (odd ends cropped) while the image
    stays at least twice the grid on both axes and the ratio is not a whole number."""
    (hh, ww), (h, w) = frame, grid
    sizes = [(hh, ww)]
    while True:
        exact = ww % w == 0 and hh % h == 0 and ww // w == hh // h
        if exact or ww < 2 * w or hh < 2 * h:
            return sizes
        hh, ww = hh // 2, ww // 2
        sizes.append((hh, ww))


def _axis_operator(n: int, big: int, steps: list[int]) -> sp.csr_matrix:
    """``(n, n)`` sparse matrix of the bilinear ``n -> big`` upsampling followed by the
    halvings to ``steps`` and an area resize back to ``n``, along one axis."""
    rows = cv2.resize(np.eye(n, dtype=np.float32), (big, n), interpolation=cv2.INTER_LINEAR)
    for size in steps:        # exact halvings (INTER_AREA, ratio 2; odd ends cropped)
        rows = cv2.resize(rows[:, : 2 * size], (size, n), interpolation=cv2.INTER_AREA)
    if rows.shape[1] != n:
        rows = cv2.resize(rows, (n, n), interpolation=cv2.INTER_AREA)
    return sp.csr_matrix(rows.T)    # rows[i] is the response to a unit impulse at i


class GridResampler:
    """Frame-size labels and the frame-size round trip of a work grid's probabilities.

    Args:
        grid: ``(h, w)`` of the work grid.
        frame: ``(H, W)`` of the frame, at least the grid's size on each axis.
    """

    def __init__(self, grid: tuple[int, int], frame: tuple[int, int]) -> None:
        (h, w), (hh, ww) = grid, frame
        if h > hh or w > ww:
            raise ValueError(f"work grid {w}x{h} is larger than the frame {ww}x{hh}")
        self.grid, self.frame = (h, w), (hh, ww)
        self._y = _linear_taps(h, hh)
        self._x = _linear_taps(w, ww)
        # rows (columns) of the frame whose bilinear cell starts at grid row (column) i:
        # [start, stop); the taps' first index never decreases along the frame
        self._rows = (np.searchsorted(self._y[0], np.arange(h), "left"),
                      np.searchsorted(self._y[0], np.arange(h), "right"))
        self._cols = (np.searchsorted(self._x[0], np.arange(w), "left"),
                      np.searchsorted(self._x[0], np.arange(w), "right"))
        sizes = halving_sizes(frame, grid)
        self._ry = _axis_operator(h, hh, [s[0] for s in sizes[1:]])
        self._rx = _axis_operator(w, ww, [s[1] for s in sizes[1:]])

    def labels(self, probs: np.ndarray, object_ids: Sequence[int]) -> np.ndarray:
        """``(H, W)`` uint8 label map of the bilinear upsampling of ``probs``.

        Args:
            probs: ``(K + 1, h, w)`` float32 distribution on the grid (channel 0 background).
            object_ids: the ids of channels 1..K.

        Returns:
            ``(H, W)`` uint8: ``argmax_labels(upsample(probs, (H, W)), object_ids)``.
        """
        hh, ww = self.frame
        h, w = self.grid
        grid_labels = argmax_labels(probs, object_ids)
        out = cv2.resize(grid_labels, (ww, hh), interpolation=cv2.INTER_NEAREST)
        if len(object_ids) == 0:
            return out
        # bilinear cells (grid rows i, i + 1 and columns j, j + 1, clamped at the far
        # edges) whose four corners disagree: a convex combination of distributions whose
        # argmax is the same label keeps it, so elsewhere the nearest label (one of the
        # four corners) is the bilinear one
        g = np.pad(grid_labels, ((0, 1), (0, 1)), mode="edge")
        corner = g[:-1, :-1]
        edge = (corner != g[1:, :-1]) | (corner != g[:-1, 1:]) | (corner != g[1:, 1:])
        ei, ej = np.nonzero(edge)
        if ei.size == 0:
            return out
        r0, r1 = self._rows[0][ei], self._rows[1][ei]
        c0, c1 = self._cols[0][ej], self._cols[1][ej]
        span_r, span_c = int((r1 - r0).max()), int((c1 - c0).max())
        rr = r0[:, None, None] + np.arange(span_r)[None, :, None]
        cc = c0[:, None, None] + np.arange(span_c)[None, None, :]
        keep = (rr < r1[:, None, None]) & (cc < c1[:, None, None])
        rr = np.broadcast_to(rr, keep.shape)[keep]
        cc = np.broadcast_to(cc, keep.shape)[keep]
        y0, y1, ay = (t[rr] for t in self._y)
        x0, x1, ax = (t[cc] for t in self._x)
        i00, i01, i10, i11 = y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1
        bx, by = 1.0 - ax, 1.0 - ay
        flat = probs.reshape(probs.shape[0], h * w)
        best = np.empty(rr.size, dtype=np.float32)
        lab = np.zeros(rr.size, dtype=np.uint8)
        for k in range(probs.shape[0]):
            p = flat[k]
            v = (p[i00] * bx + p[i01] * ax) * by + (p[i10] * bx + p[i11] * ax) * ay
            if k == 0:
                best[:] = v
            else:
                better = v > best
                lab[better] = object_ids[k - 1]
                np.maximum(best, v, out=best)
        out[rr, cc] = lab
        return out

    def round_trip(self, p: np.ndarray) -> np.ndarray:
        """``(h, w)`` float32 ``shrink(upsample(p, (H, W)), (w, h))`` of one ``(h, w)`` map."""
        q = self._ry @ np.asarray(p, dtype=np.float32)
        return np.ascontiguousarray((self._rx @ q.T).T, dtype=np.float32)
