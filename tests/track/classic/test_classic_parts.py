"""Unit tests of the ``classic`` tracker's parts: features, classifier, fusion, cleaning."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gazevos.config import load_config
from gazevos.errors import GazevosError
from gazevos.track import build_tracker
from gazevos.track.classic import ClassicConfig, ClassicTracker
from gazevos.track.classic.classifier import AppearanceModel, sample_indices
from gazevos.track.classic.features import (
    feature_rows,
    learned_features,
    mask_geometry,
    n_pixel_features,
    pixel_features,
    position_features,
)
from gazevos.track.classic.masks import near_window
from gazevos.track.classic.tracker import clean_mask, fuse


def test_pixel_features_of_a_flat_image():
    img = np.full((20, 30, 3), (200, 40, 50), dtype=np.uint8)
    f = pixel_features(img, (1, 3), 2)
    assert f.shape == (n_pixel_features((1, 3)), 20, 30) == (13, 20, 30)
    lab = cv2.cvtColor(img[:1, :1], cv2.COLOR_RGB2LAB)[0, 0].astype(np.float32)
    # colour and the two local means all equal the pixel's LAB; no texture at all
    for k in range(3):
        np.testing.assert_allclose(f[3 * k:3 * k + 3], np.broadcast_to(lab[:, None, None],
                                                                       (3, 20, 30)), atol=1e-3)
    np.testing.assert_allclose(f[9:12], 0.0, atol=1e-2)


def test_pixel_features_see_a_vertical_edge():
    img = np.zeros((20, 30, 3), dtype=np.uint8)
    img[:, 15:] = 255
    f = pixel_features(img, (2,), 2)
    grad = f[3 + 3 + 1]
    assert grad[10, 14] > 100 and grad[10, 15] > 100
    assert grad[10, 5] == 0 and grad[10, 25] == 0
    orient = f[-1]   # vertical-minus-horizontal energy: negative at a vertical edge
    assert orient[10, 15] < -0.5


def test_pixel_features_by_hand_on_a_ramp():
    img = np.repeat(np.repeat(np.arange(0, 200, 10, dtype=np.uint8)[None, :, None], 12, 0), 3, 2)
    f = pixel_features(img, (1,), 1)      # planes: LAB, 3 means, std, |grad|, energy, orient
    light = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    np.testing.assert_array_equal(f[0], light)
    for c in range(1, 19):      # the 3x3 mean; the 3x3 Sobel of a column ramp: 4 (L+1 - L-1)
        assert f[3, 5, c] == pytest.approx(light[4:7, c - 1:c + 2].mean(), abs=1e-3)
        assert f[7, 5, c] == pytest.approx(4 * (light[5, c + 1] - light[5, c - 1]), abs=1e-3)
    assert (f[-1, 5, 3:-3] < -0.9).all()    # horizontal gradient only


def test_feature_rows_are_the_pixels_features():
    f = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5)
    rows = feature_rows(f, np.array([0, 7, 14]))      # (0, 0), (1, 2), (2, 4)
    np.testing.assert_array_equal(rows, [f[:, 0, 0], f[:, 1, 2], f[:, 2, 4]])


def test_position_features_by_hand():
    pos = position_features(np.array([10, 20]), np.array([5, 35]), (10.0, 15.0), 10.0)
    np.testing.assert_allclose(pos, [[0.0, -1.0], [1.0, 2.0]])


def test_mask_geometry():
    m = np.zeros((10, 10), bool)
    m[2:4, 6:10] = True          # 8 pixels, centre (2.5, 7.5)
    (cy, cx), size, area = mask_geometry(m)
    assert (cy, cx, area) == (2.5, 7.5, 8)
    assert size == pytest.approx(np.sqrt(8))
    assert mask_geometry(np.zeros((4, 4), bool)) is None


def test_learned_features_resized_and_checked():
    def enc(image):
        return np.ones((image.shape[0] // 4, image.shape[1] // 4, 5), np.float32) * 3

    out = learned_features(enc, np.zeros((40, 80, 3), np.uint8), (20, 40))
    assert out.shape == (5, 20, 40) and np.allclose(out, 3)
    with pytest.raises(GazevosError, match=r"\(h, w, C\)"):
        learned_features(lambda im: np.zeros((4, 4)), np.zeros((8, 8, 3), np.uint8), (8, 8))


def test_sample_indices_caps_each_class():
    rng = np.random.default_rng(0)
    fg = np.zeros((10, 10), bool)
    fg[:3] = True                   # 30 pixels
    idx, y = sample_indices(rng, fg, ~fg, 20)
    assert (y == 1).sum() == 20 and (y == 0).sum() == 20
    assert fg.ravel()[idx[y == 1]].all() and not fg.ravel()[idx[y == 0]].any()
    assert len(set(idx.tolist())) == 40


def test_appearance_model_learns_and_keeps_bounded_memory():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (400, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.uint8)
    m = AppearanceModel(20, 7, 0.3, 5, recent_frames=2)
    assert not m.fitted
    assert not AppearanceModel(5, 3, 0.3, 5, 2).fit()       # nothing to learn from
    one = AppearanceModel(5, 3, 0.3, 5, 2)
    one.set_anchor(x, np.ones(400, np.uint8))
    assert not one.fit() and not one.fitted                 # a single class: no model
    m.set_anchor(x, y)
    assert m.fit()
    p = m.predict(np.array([[2.0, 0, 0], [-2.0, 0, 0]], np.float32))
    assert p[0] > 0.9 and p[1] < 0.1
    for _ in range(5):
        m.add_recent(x[:10], y[:10])
    assert len(m._recent) == 2
    m.set_anchor(x, y)
    assert len(m._recent) == 0


def test_fuse_in_log_odds():
    cfg = ClassicConfig(prior_weight=1.0, classifier_weight=1.0, fusion_bias=0.0,
                        prior_min=0.01, prior_max=0.99, classifier_floor=0.01)
    out = fuse(np.array([0.5, 0.8, 0.8]), np.array([0.9, 0.2, 0.8]), cfg)
    # logit(0.5) + logit(0.9) = logit(0.9); logit(0.8) + logit(0.2) = 0; 2 logit(0.8)
    np.testing.assert_allclose(out, [0.9, 0.5, 16 / 17], rtol=1e-5)
    # a capped prior (prior_max 0.8) cannot outvote a confident classifier
    capped = ClassicConfig(prior_min=0.02, prior_max=0.8, classifier_floor=0.01)
    assert fuse(np.array([1.0]), np.array([0.05]), capped)[0] < 0.5


def test_clean_mask_drops_components_off_the_prior_and_fills_holes():
    prob = np.zeros((40, 40), np.float32)
    prob[5:25, 5:25] = 0.9
    prob[14:16, 14:16] = 0.1          # a 4-pixel hole
    prob[30:35, 30:35] = 0.8          # a blob the prior does not support
    prior = np.zeros_like(prob)
    prior[6:24, 6:24] = 1.0
    out = clean_mask(prob, prior, keep_min_prior=0.2, hole_fraction=0.02)
    assert (out[14:16, 14:16] > 0.5).all()
    assert (out[30:35, 30:35] < 0.5).all()
    assert (out[5:25, 5:25] > 0.5).all()
    # holes larger than hole_fraction of the object stay holes
    out = clean_mask(prob, prior, keep_min_prior=0.2, hole_fraction=0.005)
    assert (out[14:16, 14:16] < 0.5).all()


def test_clean_mask_holes_at_the_frame_edge_and_bays_are_not_filled():
    """Only background enclosed by the object is a hole: not a notch open to the frame's
    edge, nor a bay open to the outside, however small (the labelling works inside the
    object's bounding box plus a one-pixel ring)."""
    prob = np.zeros((30, 40), np.float32)
    prob[0:12, 0:20] = 0.9            # an object in the top-left corner
    prob[0:2, 8:10] = 0.1             # a notch open to the top edge of the frame
    prob[5:7, 18:20] = 0.1            # a bay open to the right, inside the bounding box
    prob[5:7, 3:5] = 0.1              # an enclosed hole
    out = clean_mask(prob, prob, keep_min_prior=0.2, hole_fraction=0.05)
    assert (out[5:7, 3:5] > 0.5).all()
    assert (out[0:2, 8:10] < 0.5).all() and (out[5:7, 18:20] < 0.5).all()
    # the whole frame an object with a hole: no ring fits, the hole is still found
    full = np.full((10, 10), 0.9, np.float32)
    full[4:6, 4:6] = 0.2
    assert (clean_mask(full, full, 0.2, 0.05)[4:6, 4:6] > 0.5).all()
    assert not clean_mask(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32),
                          0.2, 0.05).any()


def test_preset_is_the_defaults():
    assert load_config(ClassicConfig, "classic") == ClassicConfig()


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(GazevosError, match="dis_preset"):
        ClassicTracker(ClassicConfig(dis_preset="fastest"))
    with pytest.raises(GazevosError, match="work_scale"):
        ClassicTracker(ClassicConfig(work_scale=2.0))
    bad = tmp_path / "bad.yaml"
    bad.write_text("band_width: 3\n")
    with pytest.raises(GazevosError, match="unknown setting 'band_width'"):
        build_tracker("classic", config=bad)
    assert isinstance(build_tracker("classic", boost_rounds=5), ClassicTracker)


def test_a_deferred_fit_answers_after_the_set_number_of_predictions():
    """fit(background=True, defer=2): the old classifier answers twice, then the new one;
    a model pickled in between keeps that order (resumed runs give the same masks)."""
    import pickle

    x = np.array([[2.0], [-2.0]] * 50, np.float32)
    y = np.array([1, 0] * 50, np.uint8)
    m = AppearanceModel(10, 3, 0.3, 5, recent_frames=1)
    m.set_anchor(x, y)
    assert m.fit()
    probe = np.array([[2.0]], np.float32)
    assert m.predict(probe)[0] > 0.9
    m.set_anchor(x, 1 - y)                  # the labels flip: the next fit answers the opposite
    assert m.fit(background=True, defer=2)
    copy = pickle.loads(pickle.dumps(m))
    for model in (m, copy):
        assert model.predict(probe)[0] > 0.9      # still the old classifier ...
        assert model.predict(probe)[0] > 0.9
        assert model.predict(probe)[0] < 0.1      # ... then the new one
        assert model.predict(probe)[0] < 0.1


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("reach", "step"), [(6.0, 2), (14.5, 2), (3.0, 1), (9.0, 3)])
def test_near_window_keeps_the_distances_it_needs(seed, reach, step):
    rng = np.random.default_rng(seed)
    mask = np.zeros((90, 120), bool)
    for _ in range(rng.integers(1, 4)):      # a few blobs, some at the borders
        y, x = rng.integers(0, 90), rng.integers(0, 120)
        mask[max(0, y - rng.integers(1, 15)):y + rng.integers(1, 15),
             max(0, x - rng.integers(1, 25)):x + rng.integers(1, 25)] = True
    full = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    rows, cols = near_window(mask, reach, step)
    assert rows.start % step == 0 and cols.start % step == 0
    part = cv2.distanceTransform((~mask[rows, cols]).astype(np.uint8), cv2.DIST_L2, 3)
    # equal up to the float rounding of paths summed in another order (1 ulp)
    np.testing.assert_allclose(part, full[rows, cols], rtol=3e-7)
    outside = np.ones(mask.shape, bool)
    outside[rows, cols] = False
    assert (full[outside] > reach).all()
    # and not much more: the window's edge lies within reach + 3 steps of the mask
    border = np.ones(part.shape, bool)
    border[1:-1, 1:-1] = False
    edge = part[border & (part > 0)]
    assert edge.size == 0 or edge.min() <= reach + 3 + step
