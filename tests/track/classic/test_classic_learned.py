"""The MAST-encoder feature plug-in of the ``classic`` tracker."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _classic_synth import H, W, background, disc_mask, paint_disc

from gazevos.errors import GazevosError
from gazevos.models.mast import MastModel, MastModelConfig, model_to_checkpoint
from gazevos.track import build_tracker
from gazevos.track.classic.learned import MastFeatures, pca_basis

TINY = MastModelConfig(widths=(4, 8), depths=(1, 1), feature_dim=8)


@pytest.fixture
def mast_ckpt(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "mast.pt"
    torch.save(model_to_checkpoint(MastModel(TINY)), path)
    return path


def test_pca_basis_finds_the_line():
    rng = np.random.default_rng(0)
    t = rng.normal(0, 3, 500)
    x = np.stack([t + 1, -t + 2, rng.normal(0, 0.01, 500)], axis=1)   # along (1, -1, 0)
    mean, basis = pca_basis(x, 2)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-5)
    assert basis.shape == (3, 2)
    # sign convention: the largest-magnitude entry is positive -> (0.707, -0.707, 0)
    np.testing.assert_allclose(basis[:, 0], [2 ** -0.5, -(2 ** -0.5), 0], atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(basis, axis=0), 1.0, rtol=1e-5)
    assert abs(basis[2, 1]) > 0.99                                     # then the noise axis


def test_pca_basis_rejects_one_row():
    with pytest.raises(GazevosError, match="PCA"):
        pca_basis(np.zeros((1, 4)), 2)


def test_mast_features_shape_and_per_video_projection(mast_ckpt):
    ex = MastFeatures(mast_ckpt, scale=0.5, dims=3)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    fa = ex(a)
    assert fa.shape == (6, 8, 3) and fa.dtype == np.float32     # 48*0.5/4, 64*0.5/4
    # projected on centred principal axes of frame a: zero mean, decreasing variance
    np.testing.assert_allclose(fa.reshape(-1, 3).mean(axis=0), 0.0, atol=1e-5)
    var = fa.reshape(-1, 3).var(axis=0)
    assert var[0] >= var[1] >= var[2]
    fb_same_video = ex(b)                     # uses frame a's projection
    ex.reset()
    fb_new_video = ex(b)                      # refits on frame b
    assert not np.allclose(fb_same_video, fb_new_video)
    fresh = MastFeatures(mast_ckpt, scale=0.5, dims=3)
    np.testing.assert_allclose(fresh(b), fb_new_video, atol=1e-6)


def test_mast_features_bad_settings(mast_ckpt):
    with pytest.raises(GazevosError, match="learned_dims"):
        MastFeatures(mast_ckpt, dims=0)
    with pytest.raises(GazevosError, match="learned_scale"):
        MastFeatures(mast_ckpt, scale=0.0)


def test_classic_builds_and_uses_mast_features(mast_ckpt):
    trk = build_tracker("classic", checkpoint=mast_ckpt, learned_features="mast",
                        learned_dims=4)
    assert isinstance(trk.extractor, MastFeatures) and trk.extractor.dims == 4
    bg = background()
    for k in range(4):
        disc = disc_mask(H / 2, W / 3 + 3 * k, 15)
        pred = trk.step(paint_disc(bg, disc, k), mask=disc.astype(np.uint8) if k == 0 else None)
    assert pred.labels.shape == (H, W)
    inter = ((pred.labels == 1) & disc).sum()
    assert inter / ((pred.labels == 1) | disc).sum() > 0.8
    assert trk.extractor._basis is not None and trk.extractor._basis.shape[1] == 4
    trk.reset()
    assert trk.extractor._basis is None           # a new video fits a new projection


def test_unknown_learned_features_is_one_line_error():
    with pytest.raises(GazevosError, match="learned_features"):
        build_tracker("classic", learned_features="vgg")
