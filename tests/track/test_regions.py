"""Mask geometry: the enlarged crop box and the far-component filter, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gazevos.track.regions import crop_box, keep_near_components


def test_crop_box_by_hand() -> None:
    m = np.zeros((100, 200), dtype=bool)
    m[40:60, 50:90] = True  # 20 x 40, centre (50, 70)
    assert crop_box(m, 1.5, 0.5) == (35, 40, 65, 100)  # 30 x 60
    assert crop_box(m, 1.5, 1.0) == (20, 40, 80, 100)  # widened to 60 x 60
    assert crop_box(m, 1.0, 0.5, min_frac=0.5) == (25, 20, 75, 120)  # at least 50 x 100
    m2 = np.zeros((100, 200), dtype=bool)
    m2[0:10, 190:200] = True
    assert crop_box(m2, 1.5, 0.5) == (0, 180, 13, 200)  # 15 x 30, clipped to the frame
    assert crop_box(np.zeros((4, 4), dtype=bool), 1.5, 0.5) is None


def test_keep_near_components_by_hand() -> None:
    prev = np.zeros((60, 100), dtype=np.float32)
    prev[10:20, 10:20] = 1.0                      # area 100: "near" = radius x 10 px
    prob = np.zeros_like(prev)
    prob[12:22, 14:24] = 0.9                      # the object, moved 2 / 4 px
    prob[40:50, 80:90] = 0.8                      # a blob ~ 60 px away
    prob[10:20, 26:29] = 0.7                      # a strip 7-9 px right of prev
    out = keep_near_components(prob, prev, radius=0.8)   # within 8 px
    assert out[15, 18] == pytest.approx(0.9) and out[45, 85] == 0.0
    # the strip: its columns lie 7, 8 and 9 px (DIST_L2 mask 3: ~7, ~8, ~9) from prev,
    # two of three within 8 px -> kept at near_keep 0.5, dropped at 0.9
    assert out[15, 27] == pytest.approx(0.7)
    assert keep_near_components(prob, prev, 0.8, keep=0.9)[15, 27] == 0.0
    assert np.array_equal(keep_near_components(prob, prev, radius=10.0), prob)  # all near
    # clip: the kept object loses its pixels beyond 0.3 x 10 px of prev (its far corner)
    clipped = keep_near_components(prob, prev, radius=10.0, clip=0.3)
    assert clipped[19, 21] == pytest.approx(0.9) and clipped[21, 23] == 0.0
    # every component far (the object jumped): unchanged; empty previous mask: unchanged
    far = np.zeros_like(prev)
    far[40:50, 80:90] = 0.8
    assert np.array_equal(keep_near_components(far, prev, 0.8), far)
    assert np.array_equal(keep_near_components(prob, np.zeros_like(prev), 0.8), prob)
