"""Overlay drawing: mask colours, gaze marks, fixation ring, header."""

from __future__ import annotations

import numpy as np

from gazevos.io.masks import DAVIS_PALETTE
from gazevos.report.overlay import HIT_COLORS, FixationMark, GazeMark, OverlayStyle, draw_overlay


def _frame() -> tuple[np.ndarray, np.ndarray]:
    img = np.full((120, 200, 3), 100, np.uint8)
    labels = np.zeros((120, 200), np.uint8)
    labels[40:100, 20:80] = 1
    labels[40:100, 120:180] = 2
    return img, labels


def test_masks_are_blended_with_the_davis_palette():
    img, labels = _frame()
    style = OverlayStyle(alpha=0.5)
    out = draw_overlay(img, labels, {1: "cup", 2: "book"}, style=style)
    assert out.shape == img.shape and out.dtype == np.uint8
    for oid, (y, x) in ((1, (80, 50)), (2, (80, 150))):  # inside, away from outline and name
        expected = np.round(0.5 * 100 + 0.5 * DAVIS_PALETTE[oid].astype(float))
        assert np.array_equal(out[y, x], expected.astype(np.uint8))
    assert np.array_equal(out[5:15, 100], img[5:15, 100])  # background untouched
    assert not np.array_equal(out[30:40, 20:60], img[30:40, 20:60])  # the name label
    assert np.array_equal(img, np.full_like(img, 100))  # input not modified


def test_gaze_dot_colour_says_what_it_hits():
    img, labels = _frame()
    for hit in ("inside", "near", "none"):
        out = draw_overlay(img, None, gaze=[GazeMark(np.nan, 0, "none"), GazeMark(100, 20, hit)],
                           tolerance_px=12)
        assert tuple(out[20, 100]) == HIT_COLORS[hit]
        changed = (out[20] != img[20]).any(axis=1)
        assert changed[111:114].any()  # the tolerance circle, radius 12
        assert not changed[109] and not changed[91]  # gap between dot (r 6 + 1) and circle
        assert not changed[130]


def test_fixation_ring_and_header():
    img, labels = _frame()
    plain = draw_overlay(img, labels)
    marked = draw_overlay(img, labels, fixation=FixationMark(100, 60, 3, "cup"),
                          header="frame 3  0.10 s")
    assert not np.array_equal(plain[0:12, 0:60], marked[0:12, 0:60])  # header box
    ring = (marked != plain).any(axis=2)
    assert ring[60, 100 - 16] or ring[60, 100 + 16]  # ring of radius 1.6 x 10 px
    assert not ring[60, 100 - 5]  # hollow inside (cross arms are 8 px long)
