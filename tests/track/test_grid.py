"""GridResampler and GridPrediction agree with the frame-size path they replace."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from gazevos.track.base import (
    GridPrediction,
    Prediction,
    aggregate,
    argmax_labels,
    shrink,
    upsample,
)
from gazevos.track.grid import GridResampler

# (grid h, w) -> (frame H, W): 1080p and 1600x1200 on the capped grid, DAVIS at 2x, odd sizes
SIZES = [((249, 442), (1080, 1920)), ((240, 427), (480, 854)), ((221, 294), (1200, 1600)),
         ((37, 51), (101, 163)), ((40, 60), (40, 60))]


def _blobs(rng: np.random.Generator, grid: tuple[int, int], k: int) -> np.ndarray:
    """``(k + 1, h, w)`` distribution of ``k`` smooth, overlapping objects."""
    h, w = grid
    fg = []
    for _ in range(k):
        m = (rng.random((h, w)) > 0.8).astype(np.float32)
        m = cv2.GaussianBlur(m, (0, 0), max(1.0, min(h, w) / 30))
        fg.append(np.clip((m - m.min()) / (np.ptp(m) + 1e-6) * 2.0 - 0.3, 0, 1))
    return aggregate(np.stack(fg))


@pytest.mark.parametrize(("grid", "frame"), SIZES)
@pytest.mark.parametrize("k", [1, 3])
def test_labels_equal_argmax_of_upsampled(grid, frame, k) -> None:
    rng = np.random.default_rng(k + grid[0])
    probs = _blobs(rng, grid, k)
    ids = tuple(range(2, 2 + 2 * k, 2))
    full = upsample(probs, frame)
    want = argmax_labels(full, ids)
    got = GridResampler(grid, frame).labels(probs, ids)
    assert got.shape == frame and got.dtype == np.uint8
    assert set(np.unique(want)) - {0} and len(np.unique(want)) > 1   # boundaries to test
    top = np.sort(full, axis=0)
    differ = got != want
    # only float-rounding ties may differ
    assert differ.sum() <= 3 and np.all(top[-1][differ] - top[-2][differ] < 1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_labels_of_noise_where_every_cell_is_a_boundary(seed) -> None:
    # independent random distributions per grid pixel: most bilinear cells' corners
    # disagree, and the borders' clamped cells are exercised on every side
    rng = np.random.default_rng(seed)
    probs = rng.random((4, 7, 9)).astype(np.float32)
    probs /= probs.sum(axis=0, keepdims=True)
    ids = (3, 5, 9)
    for frame in [(23, 31), (7, 9), (30, 9), (50, 64)]:
        want = argmax_labels(upsample(probs, frame), ids)
        got = GridResampler((7, 9), frame).labels(probs, ids)
        assert np.array_equal(got, want), frame


def test_labels_without_objects_or_boundaries() -> None:
    rs = GridResampler((10, 20), (30, 50))
    assert not rs.labels(np.ones((1, 10, 20), np.float32), ()).any()
    probs = np.zeros((2, 10, 20), np.float32)
    probs[1] = 1.0
    assert (rs.labels(probs, (7,)) == 7).all()


@pytest.mark.parametrize(("grid", "frame"), SIZES)
def test_round_trip_equals_shrink_of_upsample(grid, frame) -> None:
    rng = np.random.default_rng(3)
    p = _blobs(rng, grid, 1)[1]
    want = shrink(cv2.resize(p, frame[::-1], interpolation=cv2.INTER_LINEAR), grid[::-1])
    got = GridResampler(grid, frame).round_trip(p)
    assert got.shape == grid and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_round_trip_at_2x_is_the_1_6_1_kernel() -> None:
    # hand-computed: bilinear x2 then 2x2 means = (1/8, 3/4, 1/8) per axis, edges replicated
    p = np.zeros((6, 6), np.float32)
    p[2, 3] = 1.0
    got = GridResampler((6, 6), (12, 12)).round_trip(p)
    k = np.array([0.125, 0.75, 0.125])
    want = np.zeros((6, 6))
    want[1:4, 2:5] = np.outer(k, k)
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_grid_larger_than_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="larger than the frame"):
        GridResampler((50, 50), (40, 60))


def test_grid_prediction_matches_frame_size_prediction() -> None:
    grid, frame = (60, 80), (150, 200)
    probs = _blobs(np.random.default_rng(5), grid, 2)
    ids = (1, 4)
    rs = GridResampler(grid, frame)
    pred = GridPrediction(probs, ids, rs)
    ref = Prediction(upsample(probs, frame), ids)
    assert np.array_equal(pred.labels, ref.labels)
    np.testing.assert_array_equal(pred.probs, ref.probs)
    np.testing.assert_allclose(pred.grid_prob(4, grid), shrink(ref.prob(4), grid[::-1]),
                               atol=2e-6)
    assert pred.grid_prob(4, (30, 40)) is None
    assert pred.confidence.keys() == {1, 4}
    back = pickle.loads(pickle.dumps(pred))
    assert np.array_equal(back.labels, pred.labels)
    with pytest.raises(ValueError, match="do not match"):
        GridPrediction(probs[:, :10], ids, rs)
