"""Look-away scoring: the schedule and the scores, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gazevos.eval.lookaway import lookaway_schedule, lookaway_scores


def test_schedule_splices_the_other_video_after_frame_k():
    assert lookaway_schedule(4, 1, 2) == [("seq", 0), ("seq", 1), ("away", 0), ("away", 1),
                                          ("seq", 2), ("seq", 3)]
    with pytest.raises(ValueError):
        lookaway_schedule(4, 3, 2)          # nothing after the look-away
    with pytest.raises(ValueError):
        lookaway_schedule(4, 1, 0)


def _box(x0: int, x1: int) -> np.ndarray:
    m = np.zeros((4, 10), np.uint8)
    m[:, x0:x1] = 1
    return m


def test_scores_by_hand():
    truth = [_box(0, 4)] * 6                       # area 16 on every frame
    pred = [_box(0, 4), _box(0, 4), _box(0, 2),    # frames 0-2; look-away after frame 2
            np.zeros((4, 10), np.uint8), _box(0, 4), _box(0, 4)]
    away = [_box(0, 1), np.zeros((4, 10), np.uint8), _box(0, 4)]  # areas 4, 0, 16
    sc = lookaway_scores(truth, pred, away, away_after=2)
    assert sc.j_before == pytest.approx((1.0 + 0.5) / 2)     # frames 1 and 2
    assert sc.j_after == pytest.approx((0.0 + 1.0) / 2)      # frames 3 and 4 (5 is last)
    assert sc.recovery_frames == 1
    assert sc.false_area == pytest.approx((0.25 + 0.0 + 1.0) / 3)
    assert sc.false_frames == pytest.approx(2 / 3)           # 0.25 and 1.0 exceed 0.1


def test_never_found_again_and_void_pixels():
    truth = [_box(0, 4)] * 5
    truth = [t.copy() for t in truth]
    truth[1][:, 8:] = 255                          # void: a prediction there is not counted
    pred = [_box(0, 4), np.where(np.arange(10) >= 8, 1, _box(0, 4)).astype(np.uint8),
            np.zeros((4, 10), np.uint8), np.zeros((4, 10), np.uint8), _box(0, 4)]
    sc = lookaway_scores(truth, pred, [], away_after=1)
    assert sc.j_before == pytest.approx(1.0)
    assert sc.j_after == 0.0 and sc.recovery_frames is None
    assert sc.false_area == 0.0 and sc.false_frames == 0.0
    with pytest.raises(ValueError):
        lookaway_scores(truth, pred[:4], [], away_after=1)


def test_replace_mode_skips_the_sequence_frames_the_look_away_covers():
    assert lookaway_schedule(6, 1, 2, replace=True) == [
        ("seq", 0), ("seq", 1), ("away", 0), ("away", 1), ("seq", 4), ("seq", 5)]
    with pytest.raises(ValueError):
        lookaway_schedule(5, 1, 3, replace=True)    # no sequence frame left after it
    truth = [_box(0, 4)] * 6
    pred = [_box(0, 4), _box(0, 2), None, None, _box(0, 4), _box(0, 4)]
    sc = lookaway_scores(truth, pred, [_box(0, 4)] * 2, away_after=1, resume_at=4)
    assert sc.j_before == pytest.approx(0.5) and sc.j_after == pytest.approx(1.0)
    assert sc.false_area == pytest.approx(1.0) and sc.recovery_frames == 0
    with pytest.raises(ValueError):                 # a scored frame without a prediction
        lookaway_scores(truth, pred, [], away_after=1, resume_at=3)
