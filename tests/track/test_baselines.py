"""Copy and flow trackers on synthetic moving squares; the tracker API's bookkeeping."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.eval.metrics import db_eval_iou
from gazevos.eval.synthetic import Square, moving_squares, texture
from gazevos.track import aggregate, build_tracker
from gazevos.track.base import Prediction, argmax_labels
from gazevos.track.baselines import FlowConfig, FlowTracker, backward_flow, warp


def _track(name: str, frames: np.ndarray, first: np.ndarray, **over: object) -> list[Prediction]:
    trk = build_tracker(name, **over)
    return [trk.step(f, mask=first if t == 0 else None) for t, f in enumerate(frames)]


def test_flow_follows_a_translated_square_copy_does_not() -> None:
    frames, labels = moving_squares(4, (240, 320), [Square(80, (40, 30), (2.0, 4.0))],
                                    seed=3, blur=3.0)
    flow = _track("flow", frames, labels[0])
    copy = _track("copy", frames, labels[0])
    for t in range(4):  # 12 px of motion after 3 frames
        assert db_eval_iou(labels[t] == 1, flow[t].labels == 1) > 0.9
    assert db_eval_iou(labels[3] == 1, copy[3].labels == 1) < 0.7
    np.testing.assert_array_equal(copy[3].labels, labels[0])


def test_flow_multi_object() -> None:
    squares = [Square(70, (30, 30), (1.0, 4.0)), Square(60, (150, 230), (-2.0, -3.0))]
    frames, labels = moving_squares(4, (240, 320), squares, seed=5, blur=3.0)
    preds = _track("flow", frames, labels[0])
    assert preds[-1].object_ids == (1, 2)
    for k in (1, 2):
        assert db_eval_iou(labels[-1] == k, preds[-1].labels == k) > 0.85


def test_object_added_at_a_later_frame() -> None:
    squares = [Square(70, (30, 30), (1.0, 3.0)), Square(60, (150, 230), (-2.0, -3.0), appear=2)]
    frames, labels = moving_squares(5, (240, 320), squares, seed=7, blur=3.0)
    trk = build_tracker("flow")
    preds = []
    for t, f in enumerate(frames):
        if t == 0:
            preds.append(trk.step(f, mask=labels[0]))
        elif t == 2:
            preds.append(trk.step(f, mask=labels[2], objects=[2]))
        else:
            preds.append(trk.step(f))
    assert preds[1].object_ids == (1,) and preds[2].object_ids == (1, 2)
    np.testing.assert_array_equal(preds[2].labels == 2, labels[2] == 2)   # given: exact
    assert db_eval_iou(labels[2] == 1, preds[2].labels == 1) > 0.9       # still tracked
    assert db_eval_iou(labels[4] == 2, preds[4].labels == 2) > 0.85


def test_given_mask_claims_pixels_of_tracked_objects() -> None:
    frame = np.zeros((20, 30, 3), np.uint8)
    first = np.zeros((20, 30), np.uint8)
    first[2:12, 2:12] = 1
    trk = build_tracker("copy")
    trk.step(frame, mask=first)
    second = np.zeros_like(first)
    second[5:15, 5:15] = 2                      # overlaps object 1
    pred = trk.step(frame, mask=second, objects=[2])
    np.testing.assert_array_equal(pred.labels == 2, second == 2)
    assert ((pred.labels == 1) == ((first == 1) & (second != 2))).all()


def test_before_any_object_frames_are_background() -> None:
    trk = build_tracker("flow")
    pred = trk.step(np.zeros((8, 9, 3), np.uint8))
    assert pred.object_ids == () and pred.probs.shape == (1, 8, 9)
    assert not pred.labels.any()


def test_aggregate_sums_to_one_and_orders() -> None:
    rng = np.random.default_rng(0)
    fg = rng.random((3, 7, 9)).astype(np.float32)
    fg[:, 0, 0] = (0.0, 0.0, 0.0)
    fg[:, 0, 1] = (1.0, 1.0, 0.0)
    probs = aggregate(fg)
    assert probs.shape == (4, 7, 9) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    assert probs[0, 0, 0] > 0.99                          # nothing there: background
    assert probs[1, 0, 1] == pytest.approx(0.5, abs=1e-3)  # two certain objects tie
    # single object: softmax of logits = p^2 / (p^2 + (1-p)^2)
    p = np.float32(0.8)
    one = aggregate(np.full((1, 1, 1), p))
    assert one[1, 0, 0] == pytest.approx(p**2 / (p**2 + (1 - p) ** 2), rel=1e-5)
    # the order of objects does not matter
    np.testing.assert_allclose(aggregate(fg[::-1])[1:][::-1], probs[1:], atol=1e-6)


def test_argmax_labels_matches_numpy_argmax() -> None:
    rng = np.random.default_rng(2)
    probs = rng.random((4, 11, 13)).astype(np.float32)
    probs[:, 0, :] = 0.25                                 # ties: first channel wins
    lut = np.array([0, 3, 7, 9], np.uint8)
    np.testing.assert_array_equal(argmax_labels(probs, (3, 7, 9)),
                                  lut[np.argmax(probs, axis=0)])


def test_mask_and_frame_errors() -> None:
    trk = build_tracker("flow")
    frame = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(GazevosError, match="mask size 11x10 differs from frame size 12x10"):
        trk.step(frame, mask=np.ones((10, 11), np.uint8))
    with pytest.raises(GazevosError, match="object id 3 is not in the given mask"):
        trk.step(frame, mask=np.ones((10, 12), np.uint8), objects=[3])
    with pytest.raises(GazevosError, match="uint8 RGB"):
        trk.step(np.zeros((10, 12), np.uint8))
    trk = build_tracker("copy")
    trk.step(frame, mask=np.ones((10, 12), np.uint8))
    with pytest.raises(GazevosError, match="differs from the video"):
        trk.step(np.zeros((11, 12, 3), np.uint8))


def test_reset_starts_a_new_video() -> None:
    frames, labels = moving_squares(3, (60, 80), [Square(20, (10, 10), (1.0, 1.0))], seed=1)
    trk = build_tracker("flow")
    for t, f in enumerate(frames):
        trk.step(f, mask=labels[0] if t == 0 else None)
    trk.reset()
    pred = trk.step(np.zeros((30, 40, 3), np.uint8))        # new size is fine after reset
    assert pred.object_ids == ()


def test_build_tracker_errors_and_config() -> None:
    with pytest.raises(GazevosError, match="unknown tracker 'nope'"):
        build_tracker("nope")
    with pytest.raises(GazevosError, match="takes no settings"):
        build_tracker("copy", flow_scale=0.5)
    trk = build_tracker("flow", flow_scale=0.25)
    assert isinstance(trk, FlowTracker) and trk.config.flow_scale == 0.25
    with pytest.raises(GazevosError, match="unknown setting"):
        build_tracker("flow", nope=1)
    with pytest.raises(GazevosError, match="flow_scale"):
        FlowTracker(FlowConfig(flow_scale=2.0))
    with pytest.raises(GazevosError, match="dis_preset"):
        FlowTracker(FlowConfig(dis_preset="slow"))


def test_backward_flow_and_warp_on_a_pure_shift() -> None:
    rng = np.random.default_rng(4)
    big = texture((140, 180), rng, blur=3.0)
    prev, cur = big[10:130, 10:170], big[10:130, 13:173]      # content moves 3 px left
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = backward_flow(dis, cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY),
                         cv2.cvtColor(cur, cv2.COLOR_RGB2GRAY), (120, 160))
    assert flow.shape == (120, 160, 2)
    inner = flow[20:-20, 20:-20]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.2)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.2)
    ramp = np.tile(np.arange(160, dtype=np.float32), (120, 1))
    shifted = warp(ramp, np.dstack([np.full((120, 160), 3.0, np.float32),
                                    np.zeros((120, 160), np.float32)]))
    np.testing.assert_allclose(shifted[:, :157], ramp[:, 3:])
    assert (shifted[:, 158:] == 0).all()                      # from outside: 0
