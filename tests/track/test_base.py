"""The tracker base class: aggregation on a tracker's work grid, upsampled once."""

from __future__ import annotations

import cv2
import numpy as np

from gazevos.track.base import Tracker, aggregate, upsample


class _Coarse(Tracker):
    """Answers every object with a fixed (h, w) map on a half-size grid."""

    name = "coarse"

    def __init__(self, maps: dict[int, np.ndarray]) -> None:
        super().__init__()
        self.maps = maps
        self.memorized: list[np.ndarray] = []

    def _propagate(self, frame):  # noqa: ANN001, ANN202
        return dict(self.maps)

    def _memorize(self, frame, pred, given):  # noqa: ANN001, ANN202
        self.memorized.append(pred.probs)


def test_upsample_keeps_distributions_and_matches_opencv() -> None:
    rng = np.random.default_rng(0)
    small = aggregate(rng.random((2, 5, 7)).astype(np.float32))
    big = upsample(small, (10, 14))
    assert big.shape == (3, 10, 14)
    np.testing.assert_allclose(big.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(big[1], cv2.resize(small[1], (14, 10),
                                                     interpolation=cv2.INTER_LINEAR))


def test_work_grid_answers_are_aggregated_there_and_upsampled() -> None:
    h, w = 8, 12
    a = np.zeros((h // 2, w // 2), np.float32)
    a[:, :3] = 0.9
    b = np.zeros_like(a)
    b[:, 3:] = 0.8
    trk = _Coarse({1: a, 2: b})
    first = np.zeros((h, w), np.uint8)
    first[:, :6], first[:, 6:] = 1, 2
    trk.step(np.zeros((h, w, 3), np.uint8), mask=first)
    pred = trk.step(np.zeros((h, w, 3), np.uint8))
    assert pred.probs.shape == (3, h, w)
    np.testing.assert_allclose(pred.probs, upsample(aggregate(np.stack([a, b])), (h, w)))
    assert (pred.labels[:, :5] == 1).all() and (pred.labels[:, 7:] == 2).all()
    assert set(trk.seconds) >= {"propagate", "aggregate", "memorize"}


def test_shrink_equals_area_resizing_on_whole_ratios_and_is_close_otherwise() -> None:
    from gazevos.track.base import shrink

    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (480, 854, 3), dtype=np.uint8)
    np.testing.assert_array_equal(shrink(img, (427, 240)),
                                  cv2.resize(img, (427, 240), interpolation=cv2.INTER_AREA))
    big = cv2.GaussianBlur(rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8), (0, 0), 3)
    a = shrink(big, (442, 249)).astype(int)
    b = cv2.resize(big, (442, 249), interpolation=cv2.INTER_AREA).astype(int)
    assert a.shape == (249, 442, 3) and np.abs(a - b).mean() < 1.5
    prob = np.zeros((1200, 1600), np.float32)
    prob[300:900, 400:1200] = 1.0       # a quarter of the frame
    small = shrink(prob, (383, 287))
    assert small.shape == (287, 383) and abs(small.mean() - 0.25) < 0.01


def test_a_work_grid_taller_than_the_frame_is_resized_per_object() -> None:
    """A grid that does not fit in the frame (a tracker's minimum grid on a frame a few
    pixels tall) is not a GridPrediction: each object is resized to the frame instead."""
    from gazevos.track.base import GridPrediction

    h, w = 6, 40
    a = np.zeros((8, 20), np.float32)
    a[:, :10] = 0.9
    trk = _Coarse({1: a})
    first = np.zeros((h, w), np.uint8)
    first[:, :20] = 1
    trk.step(np.zeros((h, w, 3), np.uint8), mask=first)
    pred = trk.step(np.zeros((h, w, 3), np.uint8))
    assert not isinstance(pred, GridPrediction) and pred.labels.shape == (h, w)
    assert (pred.labels[:, :18] == 1).all() and not pred.labels[:, 22:].any()
