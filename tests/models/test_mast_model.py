"""MAST encoder, memory read (two-stage search) and checkpoint loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.models.backbones import BasicBlock, ResNetEncoder
from gazevos.models.mast.model import (
    MastModel,
    MastModelConfig,
    load_checkpoint,
    model_to_checkpoint,
    rgb_to_lab,
)
from gazevos.models.mast.propagate import (
    AffinityConfig,
    SearchConfig,
    dilation_for_gap,
    reconstruct,
    roi_centres,
)

TINY = MastModelConfig(widths=(4, 8), depths=(1, 1), feature_dim=8)


def test_encoder_stride_four_and_block_shapes() -> None:
    enc = ResNetEncoder(3, (4, 8, 8), (1, 1, 1), 16)
    assert enc(torch.zeros(2, 3, 33, 50)).shape == (2, 16, 9, 13)  # ceil(ceil(33/2)/2)
    block = BasicBlock(4, 8, stride=2)
    assert block(torch.zeros(1, 4, 10, 10)).shape == (1, 8, 5, 5)
    with pytest.raises(ValueError):
        ResNetEncoder(3, (4,), (1,), 8)


def test_rgb_to_lab_known_colours() -> None:
    img = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    lab = rgb_to_lab(img)
    assert lab.shape == (3, 1, 3)
    np.testing.assert_allclose(lab[:, 0, 0], [1.0, 0.0, 0.0], atol=1e-2)  # white: L=100
    np.testing.assert_allclose(lab[:, 0, 1], [-1.0, 0.0, 0.0], atol=1e-2)  # black: L=0
    # sRGB red: L* 53.2, a* 80.1, b* 67.2
    np.testing.assert_allclose(lab[:, 0, 2], [(53.24 - 50) / 50, 80.09 / 128, 67.20 / 128],
                               atol=1e-2)


def test_dilation_follows_eq_4_1() -> None:
    cfg = SearchConfig(roi_window=13, dilation_step=15, max_dilation=0)
    size = (60, 107)  # cap: ceil(107 / 12) = 9
    assert [dilation_for_gap(g, cfg, size) for g in (1, 15, 16, 35, 10000)] == [1, 1, 2, 3, 9]
    assert dilation_for_gap(100, SearchConfig(max_dilation=4), size) == 4


@pytest.mark.parametrize("d", [1, 2])
def test_roi_centres_match_brute_force(d: int) -> None:
    g = torch.Generator().manual_seed(0)
    q, r = torch.randn(2, 6, 7, 9, generator=g), torch.randn(2, 6, 7, 9, generator=g)
    cfg = SearchConfig(roi_window=5, roi_pool=False)
    aff = AffinityConfig(affinity="correlation", roi_temperature=0.5)
    got = roi_centres(q, r, d, cfg, aff)
    want = torch.zeros_like(got)
    for b in range(2):
        for y in range(7):
            for x in range(9):
                pos = [(y + dy * d, x + dx * d) for dy in range(-2, 3) for dx in range(-2, 3)
                       if 0 <= y + dy * d < 7 and 0 <= x + dx * d < 9]
                s = torch.stack([(q[b, :, y, x] * r[b, :, py, px]).sum() for py, px in pos])
                w = torch.softmax(s / 0.5, 0)
                want[b, y, x] = (w[:, None] * torch.tensor(pos, dtype=torch.float32)).sum(0)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def _one_hot_features(h: int, w: int) -> torch.Tensor:
    """(1, h*w, h, w): pixel i has feature e_i, so only identical pixels match."""
    return torch.eye(h * w).view(h * w, h, w).unsqueeze(0)


def test_reconstruct_copies_values_along_a_shift() -> None:
    h, w = 6, 8
    ref = _one_hot_features(h, w)
    # the query is the reference moved right by one pixel (column 0 repeats)
    query = torch.cat([ref[..., :1], ref[..., :-1]], dim=-1)
    values = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w)
    aff = AffinityConfig(affinity="cosine", temperature=0.01, roi_temperature=0.01)
    out = reconstruct(query, [ref], [values], [1], SearchConfig(roi_window=5, key_window=3),
                      aff)
    want = torch.cat([values[..., :1], values[..., :-1]], dim=-1)
    torch.testing.assert_close(out, want, atol=1e-3, rtol=0)


def test_reconstruct_softmax_over_all_references_and_validity() -> None:
    h, w = 4, 5
    f = _one_hot_features(h, w)
    aff = AffinityConfig(affinity="cosine", temperature=0.01, roi_temperature=0.01)
    cfg = SearchConfig(roi_window=3, key_window=3)
    v0 = torch.stack([torch.full((h, w), 1.0), torch.full((h, w), 0.2)]).unsqueeze(0)
    v1 = torch.stack([torch.full((h, w), 0.0), torch.full((h, w), 0.6)]).unsqueeze(0)
    # identical references: equal weight on both -> the mean of their values (eq. 4.3)
    out = reconstruct(f, [f, f], [v0, v1], [1, 2], cfg, aff)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.5, 0.4]), atol=1e-3, rtol=0)
    # channel 0 only valid in reference 1, channel 1 in none
    valid = torch.tensor([[False, False], [True, False]])
    out = reconstruct(f, [f, f], [v0, v1], [1, 2], cfg, aff, valid=valid)
    torch.testing.assert_close(out[0, 0], torch.zeros(h, w), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[0, 1], torch.zeros(h, w), atol=0, rtol=0)


def test_reconstruct_is_differentiable_in_both_stages() -> None:
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 4, 6, 6, generator=g, requires_grad=True)
    r = torch.randn(1, 4, 6, 6, generator=g, requires_grad=True)
    v = torch.rand(1, 2, 6, 6, generator=g)
    out = reconstruct(q, [r], [v], [20], SearchConfig(roi_window=3, key_window=3),
                      AffinityConfig())
    out.sum().backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert r.grad is not None and r.grad.abs().sum() > 0


def _save(tmp_path, obj, name="m.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_checkpoint_round_trip_and_strict_errors(tmp_path) -> None:
    torch.manual_seed(0)
    model = MastModel(TINY)
    ck = model_to_checkpoint(model, step=3)
    loaded = load_checkpoint(_save(tmp_path, ck))
    assert loaded.config == TINY and not loaded.training
    x = torch.randn(1, 3, 16, 16)
    model.eval()
    torch.testing.assert_close(loaded(x), model(x))

    missing = dict(ck, state_dict={k: v for k, v in ck["state_dict"].items()
                                   if not k.startswith("encoder.head")})
    with pytest.raises(GazevosError, match="missing keys"):
        load_checkpoint(_save(tmp_path, missing, "a.pt"))
    extra = dict(ck, state_dict={**ck["state_dict"], "bogus": torch.zeros(1)})
    with pytest.raises(GazevosError, match="unexpected keys"):
        load_checkpoint(_save(tmp_path, extra, "b.pt"))
    bad = dict(ck["state_dict"])
    bad["encoder.head.weight"] = torch.zeros(3, 3, 1, 1)
    with pytest.raises(GazevosError, match="shape"):
        load_checkpoint(_save(tmp_path, dict(ck, state_dict=bad), "c.pt"))
    with pytest.raises(GazevosError, match="not a gazevos MAST checkpoint"):
        load_checkpoint(_save(tmp_path, {"weights": 1}, "d.pt"))
    (tmp_path / "e.pt").write_text("garbage")
    with pytest.raises(GazevosError, match="cannot read"):
        load_checkpoint(tmp_path / "e.pt")
    with pytest.raises(GazevosError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with torch.no_grad():
        assert math.isfinite(float(loaded(x).sum()))


def test_window_keys_equal_bilinear_sampling_of_features() -> None:
    """Mixing integer-position affinities equals sampling the keys bilinearly (eq. 4.3)."""
    import torch.nn.functional as F

    from gazevos.models.mast.propagate import window_keys, window_offsets

    g = torch.Generator().manual_seed(2)
    b, d, h, w, k = 2, 5, 9, 11, 3
    q, r = torch.randn(b, d, h, w, generator=g), torch.randn(b, d, h, w, generator=g)
    v = torch.rand(b, 2, h, w, generator=g)
    # centres well inside the frame so that no key needs the border
    centres = torch.stack([2 + torch.rand(b, h, w, generator=g) * (h - 5),
                           2 + torch.rand(b, h, w, generator=g) * (w - 5)], dim=-1)
    dots, vals = window_keys(q, r, v, centres, k)
    pos = centres.view(b, h * w, 1, 2) + window_offsets(k).float().view(1, 1, -1, 2)
    grid = torch.stack([pos[..., 1] * 2 / (w - 1) - 1, pos[..., 0] * 2 / (h - 1) - 1], -1)
    keys = F.grid_sample(r, grid, align_corners=True)  # (B, D, N, K)
    want = (q.view(b, d, h * w, 1) * keys).sum(1)
    torch.testing.assert_close(dots, want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(vals, F.grid_sample(v, grid, align_corners=True),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("h", "w", "radius", "dilation", "tile"),
                         [(13, 21, 3, 1, 4), (9, 7, 2, 1, 10), (17, 23, 3, 3, 4),
                          (11, 12, 2, 5, 3), (40, 45, 2, 2, 4)])
def test_local_dots_match_shifted_products(h: int, w: int, radius: int, dilation: int,
                                           tile: int) -> None:
    # dilated grids run on residue classes, through all-pairs products when those are
    # small (the 3rd and 4th cases) and through blocks otherwise (the last case)
    from gazevos.models.mast.propagate import local_dots, window_offsets

    g = torch.Generator().manual_seed(3)
    q, r = torch.randn(2, 5, h, w, generator=g), torch.randn(2, 5, h, w, generator=g)
    got = local_dots(q, r, radius, dilation, tile)
    pad = radius * dilation
    rp = torch.nn.functional.pad(r, (pad, pad, pad, pad))
    for i, (oy, ox) in enumerate(window_offsets(2 * radius + 1).tolist()):
        y0, x0 = pad + oy * dilation, pad + ox * dilation
        want = (q * rp[:, :, y0:y0 + h, x0:x0 + w]).sum(1)
        torch.testing.assert_close(got[..., i], want, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("h", "w", "tile"), [(14, 19, 10), (9, 12, 4), (23, 8, 5)])
def test_near_search_equals_roi_then_window_keys(h: int, w: int, tile: int) -> None:
    from gazevos.models.mast.propagate import _search_near, window_keys

    g = torch.Generator().manual_seed(5)
    q = torch.nn.functional.normalize(torch.randn(2, 6, h, w, generator=g), dim=1)
    r = torch.nn.functional.normalize(torch.randn(2, 6, h, w, generator=g), dim=1)
    v = torch.rand(2, 3, h, w, generator=g)
    cfg, aff = SearchConfig(roi_window=7, key_window=3), AffinityConfig(roi_temperature=0.05)
    want = window_keys(q, r, v, roi_centres(q, r, 1, cfg, aff), cfg.key_window)
    got = _search_near(q, r, v, cfg, aff, tile=tile)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)



def test_reconstruct_with_kept_caches_equals_fresh_computation() -> None:
    g = torch.Generator().manual_seed(11)
    h, w = 24, 31
    q0, q1 = torch.randn(1, 8, h, w, generator=g), torch.randn(1, 8, h, w, generator=g)
    refs = [torch.randn(1, 8, h, w, generator=g) for _ in range(2)]
    vals = [torch.rand(1, 2, h, w, generator=g) for _ in range(2)]
    cfg, aff = SearchConfig(roi_window=5, key_window=3), AffinityConfig()
    caches: list[dict] = [{}, {}]
    for q, gaps in ((q0, [1, 20]), (q1, [2, 50])):  # second call: new dilation of ref 1
        want = reconstruct(q, refs, vals, gaps, cfg, aff)
        got = reconstruct(q, refs, vals, gaps, cfg, aff, caches=caches)
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    assert caches[1]["roi"][0] == 4  # ceil(50 / 15)
    assert not any(isinstance(k, tuple) for k in caches[1])  # block windows dropped once dilated
