"""J and F measures and their statistics, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from gazevos.eval.metrics import (
    boundary_radius,
    db_eval_boundary,
    db_eval_iou,
    db_statistics,
    decay_bins,
    disk,
    seg2bmap,
)


def square(shape: tuple[int, int], top: int, left: int, side: int) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[top:top + side, left:left + side] = True
    return m


# --- J -------------------------------------------------------------------------------------

def test_iou_both_empty_is_one() -> None:
    z = np.zeros((5, 6), dtype=bool)
    assert db_eval_iou(z, z) == 1.0


def test_iou_one_empty_is_zero() -> None:
    a = square((10, 10), 2, 2, 3)
    assert db_eval_iou(a, np.zeros_like(a)) == 0.0
    assert db_eval_iou(np.zeros_like(a), a) == 0.0


def test_iou_shifted_square() -> None:
    # 10x10 square shifted right by 3: intersection 70, union 130
    a = square((30, 40), 8, 8, 10)
    b = square((30, 40), 8, 11, 10)
    assert db_eval_iou(a, b) == pytest.approx(7 / 13)


def test_iou_void_pixels_are_ignored() -> None:
    gt = square((20, 20), 5, 5, 4)            # 16 pixels
    pred = gt.copy()
    pred[0:2, :] = True                       # 40 wrong pixels ...
    void = np.zeros_like(gt)
    void[0:2, :] = True                       # ... all in void
    assert db_eval_iou(gt, pred) == pytest.approx(16 / 56)
    assert db_eval_iou(gt, pred, void) == 1.0
    # both empty outside void -> 1
    assert db_eval_iou(void, void, void) == 1.0


def test_iou_per_frame_for_3d_input() -> None:
    a = np.stack([square((10, 10), 0, 0, 4), np.zeros((10, 10), bool), square((10, 10), 0, 0, 2)])
    b = np.stack([square((10, 10), 0, 0, 2), np.zeros((10, 10), bool), np.zeros((10, 10), bool)])
    j = db_eval_iou(a, b)
    assert j.shape == (3,)
    np.testing.assert_allclose(j, [4 / 16, 1.0, 0.0])


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        db_eval_iou(np.zeros((3, 4)), np.zeros((4, 3)))
    with pytest.raises(ValueError):
        db_eval_boundary(np.zeros((3, 4)), np.zeros((3, 4)), np.zeros((4, 3)))


# --- boundary maps and tolerance --------------------------------------------------------------

def test_seg2bmap_square_ring_is_offset_up_left() -> None:
    # a side-s square at rows/cols 5..14 gives the ring of the box rows/cols 4..14: 4s pixels
    m = square((25, 25), 5, 5, 10)
    b = seg2bmap(m)
    assert b.sum() == 40
    ring = np.zeros_like(b)
    ring[4, 4:15] = ring[14, 4:15] = ring[4:15, 4] = ring[4:15, 14] = True
    np.testing.assert_array_equal(b, ring)


def test_seg2bmap_image_edges() -> None:
    # full image: only the last row/column rules apply -> no boundary at all
    assert not seg2bmap(np.ones((6, 7), bool)).any()
    # object touching the bottom-right corner: bottom-right pixel never a boundary
    m = np.zeros((6, 6), bool)
    m[3:, 3:] = True
    b = seg2bmap(m)
    assert not b[-1, -1]
    assert b[2, 2] and b[2, 5] and b[5, 2]
    assert not b[5, 4]  # last row: only the right neighbour counts (both object)


def test_seg2bmap_3d_matches_2d() -> None:
    rng = np.random.default_rng(1)
    m = rng.random((3, 12, 15)) > 0.5
    np.testing.assert_array_equal(seg2bmap(m), np.stack([seg2bmap(x) for x in m]))


def test_disk_footprints() -> None:
    np.testing.assert_array_equal(disk(0), [[1]])
    np.testing.assert_array_equal(disk(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    assert disk(2).sum() == 13
    assert disk(8).shape == (17, 17)
    with pytest.raises(ValueError):
        disk(-1)


def test_boundary_radius() -> None:
    assert boundary_radius((480, 854)) == 8           # ceil(0.008 * 979.6)
    assert boundary_radius((100, 100)) == 2           # ceil(1.13)
    assert boundary_radius((100, 100), 3) == 3        # >= 1: pixels


# --- F -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shift", [0, 1, 2, 3])
def test_f_square_shift_within_tolerance_is_one(shift: int) -> None:
    a = square((40, 50), 10, 10, 12)
    b = square((40, 50), 10, 10 + shift, 12)
    assert db_eval_boundary(a, b, bound_th=3) == 1.0


def test_f_square_shift_beyond_tolerance_hand_computed() -> None:
    # 10x10 square shifted right by 3, tolerance 1 pixel (plus-shaped disk).
    # Each ring has 40 pixels; of one ring, the top and bottom rows match on 9 pixels each
    # and 2 pixels of the near side match vertically: 20 / 40 -> precision = recall = 0.5.
    a = square((30, 40), 8, 8, 10)
    b = square((30, 40), 8, 11, 10)
    assert db_eval_boundary(a, b, bound_th=1) == pytest.approx(0.5)
    assert db_eval_boundary(b, a, bound_th=1) == pytest.approx(0.5)


def test_f_empty_cases() -> None:
    a = square((20, 20), 5, 5, 5)
    z = np.zeros_like(a)
    assert db_eval_boundary(z, z) == 1.0        # nothing anywhere
    assert db_eval_boundary(a, z) == 0.0        # precision 1, recall 0
    assert db_eval_boundary(z, a) == 0.0        # precision 0, recall 1


def test_f_void_removes_boundaries() -> None:
    gt = square((30, 30), 5, 5, 6)
    pred = gt | square((30, 30), 20, 20, 6)     # extra blob far away
    void = square((30, 30), 18, 18, 10)
    assert db_eval_boundary(gt, pred, bound_th=1) < 1.0
    assert db_eval_boundary(gt, pred, void, bound_th=1) == 1.0


def _brute_force_f(gt: np.ndarray, pred: np.ndarray, radius: int) -> float:
    """F from exact Euclidean distances between boundary pixels (independent of dilation)."""
    g, p = seg2bmap(gt), seg2bmap(pred)
    dist_to_g = ndimage.distance_transform_edt(~g)
    dist_to_p = ndimage.distance_transform_edt(~p)
    precision = float((dist_to_g[p] <= radius).mean())
    recall = float((dist_to_p[g] <= radius).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def test_f_matches_distance_definition_on_random_blobs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        gt = ndimage.gaussian_filter(rng.random((50, 70)), 3) > 0.5
        pred = ndimage.gaussian_filter(rng.random((50, 70)), 3) > 0.5
        if not seg2bmap(gt).any() or not seg2bmap(pred).any():
            continue
        for th in (0.008, 0.03, 2):
            r = boundary_radius(gt.shape, th)
            assert db_eval_boundary(gt, pred, bound_th=th) == pytest.approx(
                _brute_force_f(gt, pred, r), abs=1e-12)


def test_f_per_frame_for_3d_input() -> None:
    a = np.stack([square((30, 40), 8, 8, 10), square((30, 40), 8, 8, 10)])
    b = np.stack([square((30, 40), 8, 11, 10), np.zeros((30, 40), bool)])
    np.testing.assert_allclose(db_eval_boundary(a, b, bound_th=1), [0.5, 0.0])


# --- statistics ----------------------------------------------------------------------------

def test_decay_bins_known_length() -> None:
    # edges round(linspace(1, 10, 5) + 1e-10) - 1 = 0, 2, 5, 7, 9 (5.5 rounds up)
    assert [(s.start, s.stop) for s in decay_bins(10)] == [(0, 3), (2, 6), (5, 8), (7, 10)]


def test_decay_bins_long_series_do_not_wrap() -> None:
    bins = decay_bins(1000)
    assert bins[-1].stop == 1000 and bins[-1].start == 749
    assert all(b.start < b.stop for b in bins)


def test_statistics_known_series() -> None:
    v = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    mean, recall, decay = db_statistics(v)
    assert mean == pytest.approx(0.45)
    assert recall == pytest.approx(0.4)           # 0.5 is not above 0.5
    assert decay == pytest.approx(0.8 - 0.1)      # mean(v[0:3]) - mean(v[7:10])


def test_statistics_ignore_nan_and_long_series() -> None:
    v = np.array([1.0, np.nan, 1.0, 0.0, 0.0])
    mean, _, _ = db_statistics(v)
    assert mean == pytest.approx(0.5)
    # 300 frames: first bin (0..75) 1, rest 0 -> decay 1 (an 8-bit index would wrap)
    long = np.zeros(300)
    long[:76] = 1.0
    assert db_statistics(long)[2] == pytest.approx(1.0)
