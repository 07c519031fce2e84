"""Top-k restriction of MAST's memory read (``reconstruct(..., topk=k)``)."""

from __future__ import annotations

import torch

from gazevos.models.mast.propagate import (
    AffinityConfig,
    SearchConfig,
    dilation_for_gap,
    normalise_features,
    reconstruct,
    roi_centres,
    window_keys,
)

AFF = AffinityConfig(affinity="cosine", temperature=0.5, roi_temperature=0.1)
CFG = SearchConfig(roi_window=3, key_window=3)


def _inputs(seed: int, refs: int = 2, h: int = 5, w: int = 6, c: int = 2):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 4, h, w, generator=g)
    rs = [torch.randn(1, 4, h, w, generator=g) for _ in range(refs)]
    vs = [torch.rand(1, c, h, w, generator=g) for _ in range(refs)]
    return q, rs, vs, list(range(1, refs + 1))


def _brute_force(q, rs, vs, gaps, k: int) -> torch.Tensor:
    """Per pixel: sort all key logits, softmax over the k best, weighted mean of values."""
    qn = normalise_features(q, AFF)
    lgs, vals = [], []
    for r, v, g in zip(rs, vs, gaps, strict=True):
        rn = normalise_features(r, AFF)
        cen = roi_centres(qn, rn, dilation_for_gap(g, CFG, q.shape[-2:]), CFG, AFF)
        dots, sv = window_keys(qn, rn, v, cen, CFG.key_window)
        lgs.append(dots[0] / AFF.temperature)  # (N, K)
        vals.append(sv[0])  # (C, N, K)
    lg, val = torch.cat(lgs, 1), torch.cat(vals, 2)
    out = torch.zeros(val.shape[0], lg.shape[0])
    for p in range(lg.shape[0]):
        best = lg[p].argsort(descending=True)[:k]
        wgt = torch.softmax(lg[p, best], 0)
        out[:, p] = (val[:, p, best] * wgt).sum(1)
    return out.view(1, -1, *q.shape[-2:])


def test_topk_matches_brute_force_and_all_keys_is_plain_softmax() -> None:
    q, rs, vs, gaps = _inputs(0)
    for k in (1, 4, 10):
        got = reconstruct(q, rs, vs, gaps, CFG, AFF, topk=k)
        torch.testing.assert_close(got, _brute_force(q, rs, vs, gaps, k), atol=1e-5, rtol=0)
    plain = reconstruct(q, rs, vs, gaps, CFG, AFF)
    torch.testing.assert_close(reconstruct(q, rs, vs, gaps, CFG, AFF, topk=18), plain,
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(reconstruct(q, rs, vs, gaps, CFG, AFF, topk=1000), plain,
                               atol=1e-6, rtol=0)
    # top-1 copies the value of one key: the output differs from the plain mix
    assert (reconstruct(q, rs, vs, gaps, CFG, AFF, topk=1) - plain).abs().max() > 0.05


def test_topk_threshold_per_channel_over_its_valid_references() -> None:
    q, rs, vs, gaps = _inputs(1)
    rs[0] = q.clone()  # reference 0 matches the query best everywhere
    valid = torch.tensor([[False, True], [True, True]])  # channel 0 only knows reference 1
    got = reconstruct(q, rs, vs, gaps, CFG, AFF, valid=valid, topk=3)
    # channel 0 = top-3 over reference 1 alone (it would be empty if reference 0's keys
    # took the top 3 places for channel 0 too)
    want0 = _brute_force(q, rs[1:], vs[1:], gaps[1:], 3)[:, :1]
    want1 = _brute_force(q, rs, vs, gaps, 3)[:, 1:]
    torch.testing.assert_close(got[:, :1], want0, atol=1e-5, rtol=0)
    torch.testing.assert_close(got[:, 1:], want1, atol=1e-5, rtol=0)
    # a channel valid nowhere stays 0
    none = torch.tensor([[False, True], [False, True]])
    out = reconstruct(q, rs, vs, gaps, CFG, AFF, valid=none, topk=3)
    assert out[:, 0].abs().max() == 0
