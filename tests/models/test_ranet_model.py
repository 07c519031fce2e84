"""RANet model: RAM pieces against hand-computed values, forward pass, checkpoints and the
release's key layout."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.models.ranet import (
    RANet,
    RANetConfig,
    load_checkpoint,
    load_official,
    to_checkpoint,
)
from gazevos.models.ranet.ram import correlate, discriminant_score, nms_boost, select_ranked

TINY = RANetConfig(stem=4, widths=(4, 4, 8, 8), feature_dim=8, template_grid=(2, 3),
                   num_ranked=4, decoder_scale=0.0625, ranking_width=4)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convolutions: threads only add overhead


def test_correlate_is_dot_product_per_template_pixel() -> None:
    tpl = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])  # (1, 2, 1, 2): pixels (1,0), (0,2)
    tgt = torch.tensor([[[[3.0]], [[4.0]]]])  # (1, 2, 1, 1): pixel (3, 4)
    out = correlate(tpl, tgt)
    assert out.shape == (1, 2, 1, 1)
    assert out.flatten().tolist() == [3.0, 8.0]


def test_select_ranked_orders_and_zero_fills() -> None:
    corr = torch.arange(1.0, 5.0).view(1, 4, 1, 1)  # map j is constant j + 1
    score = torch.tensor([[0.1, 0.9, 0.5, 2.0]])
    valid = torch.tensor([[True, True, True, False]])
    maps, idx = select_ranked(corr, score, valid, 5)
    assert idx.tolist() == [[1, 2, 0, -1, -1]]
    assert maps.flatten().tolist() == [2.0, 3.0, 1.0, 0.0, 0.0]


def test_discriminant_score_by_hand() -> None:
    # three template pixels with 1-d features 1, 1, -1: pixels 0, 1 fg, pixel 2 bg
    feat = torch.tensor([[[1.0, 1.0, -1.0]]])
    fg = torch.tensor([[True, True, False]])
    bg = ~fg
    s = discriminant_score(feat, fg, bg, k=8)
    # pixel 0: other fg -> corr with pixel 1 = 1; bg -> corr with pixel 2 = -1 => 1 - (-1)
    # pixel 2: other bg -> none (0); fg -> -1 + -1 = -2 => 0 - (-2) = 2
    assert s.tolist() == [[2.0, 2.0, 2.0]]
    s1 = discriminant_score(feat, fg, bg, k=1)
    assert s1.tolist() == [[2.0, 2.0, 1.0]]


def test_nms_boost_raises_only_local_maxima() -> None:
    score = torch.tensor([[1.0, 3.0, 2.0, 0.5, 0.0, 4.0]])  # grid 2x3
    valid = torch.tensor([[True, True, True, True, True, False]])
    out = nms_boost(score, valid, (2, 3), window=3, boost=10.0)
    # pixel 5 (4.0) is invalid: pixel 1 (3.0) is the only valid maximum of its window
    assert out.tolist() == [[1.0, 13.0, 2.0, 0.5, 0.0, 4.0]]
    out1 = nms_boost(score, valid, (2, 3), window=1, boost=10.0)
    assert out1.tolist() == [[11.0, 13.0, 12.0, 10.5, 10.0, 4.0]]


def _inputs(b: int = 2) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    img = torch.randn(b, 3, 64, 96, generator=g)
    mask = torch.zeros(b, 1, 64, 96)
    mask[:, :, 16:40, 20:60] = 1.0
    return img, mask


@pytest.mark.parametrize("mods", [{}, {"discriminant": True, "nms": True}])
def test_forward_shape_and_gradients(mods: dict) -> None:
    torch.manual_seed(0)
    model = RANet(dataclasses.replace(TINY, **mods))
    img, mask = _inputs()
    out = model(img, mask, img.flip(-1), mask)
    assert out.shape == (2, 1, 64, 96)
    out.mean().backward()
    for name in ("Ranking.0.2.weight", "base_model.conv1.weight", "R3.5.weight", "L_g.2.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_rank_takes_stacked_templates() -> None:
    torch.manual_seed(0)
    model = RANet(TINY).eval()
    th, tw = TINY.template_grid
    emb = torch.nn.functional.normalize(torch.randn(1, 8, 4, 6), dim=1)
    kernel = torch.nn.functional.normalize(torch.randn(1, 8, th, tw), dim=1)
    target = emb[:, :, 1, 2]  # a second template whose only object pixel IS target (1, 2)
    k2 = kernel.clone()
    k2[:, :, 0, 0] = target
    none = torch.zeros(1, 1, th, tw)
    obj = none.clone()
    obj[..., 0, 0] = 1.0
    with torch.no_grad():
        fg, bg = model.rank(torch.cat([kernel, k2], 2), torch.cat([none, obj], 2), emb)
        _, bg1 = model.rank(kernel, none, emb)
    assert fg.shape == bg.shape == (1, TINY.num_ranked, 4, 6)
    # one fg template pixel in all: its map (correlation 1 at (1, 2)) first, zeros after
    corr = (emb * target[..., None, None]).sum(1)[0]  # that pixel's correlation map
    torch.testing.assert_close(fg[0, 0] / fg[0, 0, 1, 2], corr / corr[1, 2])
    assert fg[0, 0].argmax() == 1 * 6 + 2 and fg[0, 1:].abs().sum() == 0
    assert bg.abs().sum() > 0 and bg1.abs().sum() > 0


def test_previous_mask_changes_the_output() -> None:
    torch.manual_seed(0)
    model = RANet(TINY).eval()
    img, mask = _inputs(1)
    with torch.no_grad():
        a = model(img, mask, img, mask)
        b = model(img, mask, img, torch.zeros_like(mask))
    assert not torch.allclose(a, b)


def test_input_must_be_divisible_by_32() -> None:
    with pytest.raises(ValueError, match="divisible by 32"):
        RANet(TINY).embed(torch.zeros(1, 3, 48, 96))


def test_checkpoint_round_trip_and_strict_loading(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = RANet(TINY).eval()
    path = tmp_path / "m.pt"
    torch.save(to_checkpoint(model), path)
    back = load_checkpoint(path)
    img, mask = _inputs(1)
    with torch.no_grad():
        assert torch.equal(model(img, mask, img, mask), back(img, mask, img, mask))
    assert load_checkpoint(path, nms=True).config.nms
    bad = to_checkpoint(model)
    del bad["state_dict"]["R3.5.bias"]
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(GazevosError, match="missing keys"):
        load_checkpoint(tmp_path / "bad.pt")


# -- the public release's layout, written out from its source (not from our model) -------
def _release_keys() -> dict[str, tuple[int, ...]]:
    keys: dict[str, tuple[int, ...]] = {"base_model.conv1.weight": (64, 3, 7, 7),
                                        "base_model.bn1.weight": (64,),
                                        "base_model.bn1.bias": (64,)}
    inplanes = 64
    for li, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 23), (512, 3)], start=1):
        for b in range(blocks):
            p = f"base_model.layer{li}.{b}."
            keys[p + "conv1.weight"] = (planes, inplanes, 1, 1)
            keys[p + "conv2.weight"] = (planes, planes, 3, 3)
            keys[p + "conv3.weight"] = (planes * 4, planes, 1, 1)
            for n, c in (("bn1", planes), ("bn2", planes), ("bn3", planes * 4)):
                keys[p + n + ".weight"] = (c,)
                keys[p + n + ".bias"] = (c,)
            if b == 0:
                keys[p + "downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                keys[p + "downsample.1.weight"] = (planes * 4,)
                keys[p + "downsample.1.bias"] = (planes * 4,)
            inplanes = planes * 4

    def layer2(name: str, cin: int, cout: int, k: int = 3) -> None:
        keys[f"{name}.2.weight"] = (cout, cin, k, k)
        keys[f"{name}.2.bias"] = (cout,)

    def res2(name: str, cin: int, planes: int) -> None:
        keys[f"{name}.conv1.weight"] = (planes, cin, 1, 1)
        keys[f"{name}.conv2.weight"] = (planes, planes, 3, 3)
        keys[f"{name}.conv3.weight"] = (cin, planes, 1, 1)

    def ms(name: str, cin: int, cout: int) -> None:
        for i in (1, 2, 3):
            keys[f"{name}.l{i}.weight"] = (cout, cin, 3, 3)

    for sfx in ("", "b"):
        layer2(f"p_1{sfx}", 256, 256)
        res2(f"res_1{sfx}", 256, 128)
        layer2(f"p_2{sfx}", 256, 128)
    for name, cin, cout in (("ls13", 512, 32), ("ls14", 1024, 16), ("ls15", 2048, 16),
                            ("ls22", 256, 32), ("ls23", 512, 16), ("ls24", 1024, 16),
                            ("ls31", 64, 32), ("ls32", 256, 16), ("ls33", 512, 16)):
        layer2(name, cin, cout, 1)
    layer2("R2.0", 192, 128)
    layer2("R2.1", 128, 64)
    ms("R2.2", 64, 32)
    res2("R2.3", 32, 16)
    layer2("R3.0", 96, 64)
    layer2("R3.1", 64, 32)
    ms("R3.2", 32, 16)
    res2("R3.4", 16, 8)
    keys["R3.5.weight"] = (1, 16, 3, 3)
    keys["R3.5.bias"] = (1,)
    layer2("R1.0", 321, 256)
    layer2("R1.1", 256, 256)
    ms("R1.2", 256, 128)
    res2("R1.3", 128, 64)
    layer2("L4", 1024, 256)
    layer2("L5", 2048, 512)
    layer2("L3", 512, 128)
    layer2("L_g", 896, 512)
    keys.update({"rank_A.0.weight": (8, 2, 1), "rank_A.0.bias": (8,),
                 "rank_A.1.weight": (1,), "rank_A.2.weight": (1, 8, 1),
                 "rank_A.2.bias": (1,)})
    layer2("Ranking.0", 405, 128)
    res2("Ranking.1", 128, 32)
    layer2("Ranking.2", 128, 1)
    return keys


def _write_release(path: Path, keys: dict[str, tuple[int, ...]], prefix: str = "") -> None:
    # stride-0 views of one number: the file stays tiny although the model has 60 M weights
    state = {prefix + k: torch.full((), 0.01).expand(s) for k, s in keys.items()}
    torch.save(state, path)


def test_official_layout_loads_strictly(tmp_path: Path) -> None:
    keys = _release_keys()
    _write_release(tmp_path / "RANet_video_single.pth", keys)
    model = load_official(tmp_path / "RANet_video_single.pth")
    assert model.config.num_ranked == 256 and model.config.feature_dim == 512
    assert float(model.state_dict()["Ranking.0.2.weight"][3, 7, 1, 1]) == pytest.approx(0.01)
    # DataParallel prefix, and the generic loader recognises the layout
    _write_release(tmp_path / "dp.pth", keys, prefix="module.")
    assert load_checkpoint(tmp_path / "dp.pth", discriminant=True).config.discriminant


def test_official_layout_mismatch_is_one_line_error(tmp_path: Path) -> None:
    keys = _release_keys()
    del keys["base_model.layer3.22.conv3.weight"]
    keys["L_g.2.weight"] = (512, 895, 3, 3)
    _write_release(tmp_path / "a.pth", keys)
    with pytest.raises(GazevosError, match=r"missing keys 1 \(base_model.layer3.22.conv3"):
        load_official(tmp_path / "a.pth")
    keys = _release_keys()
    keys["L_g.2.weight"] = (512, 895, 3, 3)
    _write_release(tmp_path / "b.pth", keys)
    with pytest.raises(GazevosError, match="'L_g.2.weight' has shape"):
        load_official(tmp_path / "b.pth")
