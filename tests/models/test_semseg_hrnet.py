"""HRNet: exchange units, output shapes, official layouts and strict checkpoint loading."""

from __future__ import annotations

import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.models.semseg.checkpoint import load_official, load_state_strict, official_state
from gazevos.models.semseg.classes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from gazevos.models.semseg.hrnet import (
    ARCHITECTURES,
    ExchangeUnit,
    HRNet,
    HRNetConfig,
    StageConfig,
)


def test_exchange_unit_shapes_and_sum() -> None:
    torch.manual_seed(0)
    unit = ExchangeUnit([4, 8, 16]).eval()
    xs = [torch.randn(2, 4, 16, 20), torch.randn(2, 8, 8, 10), torch.randn(2, 16, 4, 5)]
    ys = unit(xs)
    assert [tuple(y.shape) for y in ys] == [(2, 4, 16, 20), (2, 8, 8, 10), (2, 16, 4, 5)]
    # row 0: x0 + up(bn(conv1x1(x1))) + up(bn(conv1x1(x2))), then ReLU
    f01, f02 = unit[0][1], unit[0][2]
    up = torch.nn.functional.interpolate
    ref = xs[0] + up(f01(xs[1]), size=(16, 20), mode="bilinear", align_corners=False) \
        + up(f02(xs[2]), size=(16, 20), mode="bilinear", align_corners=False)
    assert torch.allclose(ys[0], ref.clamp(min=0), atol=1e-6)
    # 0 -> 2 goes down by two stride-2 convs, the first keeping 4 channels
    assert unit[2][0][0][0].out_channels == 4 and unit[2][0][1][0].out_channels == 16
    assert unit[2][0][0][0].stride == (2, 2)


def test_exchange_unit_odd_sizes() -> None:
    unit = ExchangeUnit([2, 3]).eval()
    ys = unit([torch.randn(1, 2, 7, 9), torch.randn(1, 3, 4, 5)])
    assert tuple(ys[0].shape) == (1, 2, 7, 9) and tuple(ys[1].shape) == (1, 3, 4, 5)


TINY = HRNetConfig(8, StageConfig(1, "bottleneck", (1,), (4,)),
                   StageConfig(1, "basic", (1, 1), (4, 8)),
                   StageConfig(1, "basic", (1, 1, 1), (4, 8, 16)),
                   StageConfig(1, "basic", (1, 1, 1, 1), (4, 8, 16, 32)), 5)


@pytest.mark.parametrize(("size", "expected"), [((64, 96), (16, 24)), ((61, 83), (16, 21)),
                                               ((33, 33), (9, 9))])
def test_hrnet_output_shape(size: tuple[int, int], expected: tuple[int, int]) -> None:
    model = HRNet(TINY).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert tuple(out.shape) == (2, 5, *expected)  # two stride-2 convs, rounding up
    assert model.features(torch.randn(1, 3, *size)).shape[1] == 4 + 8 + 16 + 32


def test_official_architectures_match_release() -> None:
    # parameter counts of the release README: 65.8M (W48), 1.5M, 3.9M (W18-small v1, v2)
    expected = {"w48": 65.8, "w18-small-v1": 1.5, "w18-small-v2": 3.9}
    for name, millions in expected.items():
        with torch.device("meta"):
            model = HRNet(ARCHITECTURES[name])
        n = sum(p.numel() for p in model.parameters()) / 1e6
        assert abs(n - millions) < 0.06, (name, n)
    with torch.device("meta"):
        w48 = HRNet(ARCHITECTURES["w48"])
    sd = w48.state_dict()
    # hand-derived keys of the official seg_hrnet layout (see hrnet.py docstring)
    assert tuple(sd["conv1.weight"].shape) == (64, 3, 3, 3)
    assert tuple(sd["layer1.0.downsample.0.weight"].shape) == (256, 64, 1, 1)
    assert tuple(sd["transition1.0.0.weight"].shape) == (48, 256, 3, 3)
    assert tuple(sd["transition1.1.0.0.weight"].shape) == (96, 256, 3, 3)
    assert tuple(sd["transition3.3.0.0.weight"].shape) == (384, 192, 3, 3)
    assert tuple(sd["stage2.0.branches.1.3.conv2.weight"].shape) == (96, 96, 3, 3)
    assert tuple(sd["stage3.3.fuse_layers.0.2.0.weight"].shape) == (48, 192, 1, 1)
    assert tuple(sd["stage4.2.fuse_layers.3.0.2.0.weight"].shape) == (384, 48, 3, 3)
    assert tuple(sd["stage4.2.fuse_layers.3.0.1.0.weight"].shape) == (48, 48, 3, 3)
    assert tuple(sd["last_layer.0.weight"].shape) == (720, 720, 1, 1)
    assert tuple(sd["last_layer.3.weight"].shape) == (19, 720, 1, 1)
    assert "stage4.2.fuse_layers.0.0.weight" not in sd  # identity: no weights
    assert "transition2.0.0.weight" not in sd  # same widths: identity


def test_w48_official_layout_strict_on_meta() -> None:
    with torch.device("meta"):
        model = HRNet(ARCHITECTURES["w48"])
        # as saved by the release (FullModel wrapper): model. prefix, a loss weight,
        # no num_batches_tracked (in-place ABN)
        state = {f"model.{k}": torch.empty_like(v) for k, v in model.state_dict().items()
                 if not k.endswith("num_batches_tracked")}
        state["loss.criterion.weight"] = torch.empty(19)
    load_state_strict(model, official_state(state, "w48.pth"), "w48.pth")
    bad = dict(state)
    bad.pop("model.last_layer.3.weight")
    bad["model.head.weight"] = bad["model.last_layer.3.bias"]
    with pytest.raises(GazevosError) as err:
        load_state_strict(model, official_state(bad, "w48.pth"), "w48.pth")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("w48.pth: ")
    assert "missing keys 1 (last_layer.3.weight)" in msg
    assert "unexpected keys 1 (head.weight)" in msg


def _official_file(tmp_path, arch: str, prefix: str) -> tuple:
    torch.manual_seed(1)
    ref = HRNet(ARCHITECTURES[arch])
    for m in ref.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / f"{arch}.pth"
    torch.save({f"{prefix}{k}": v for k, v in ref.state_dict().items()}, path)
    return ref.eval(), path


@pytest.mark.parametrize("prefix", ["model.", "module.model."])
def test_load_official_w18_small(tmp_path, prefix: str) -> None:
    ref, path = _official_file(tmp_path, "w18-small-v1", prefix)
    model = load_official(path, "w18-small-v1")
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    assert model.classes == CITYSCAPES_CLASSES and (model.palette == CITYSCAPES_PALETTE).all()
    assert len(CITYSCAPES_CLASSES) == 19 and CITYSCAPES_CLASSES[13] == "car"
    assert tuple(CITYSCAPES_PALETTE[0]) == (128, 64, 128)


def test_load_official_wrong_layout(tmp_path) -> None:
    _, path = _official_file(tmp_path, "w18-small-v1", "model.")
    with pytest.raises(GazevosError, match="missing keys 365 ") as err:
        load_official(path, "w18-small-v2")  # other architecture: keys and shapes differ
    assert "\n" not in str(err.value)
    with pytest.raises(GazevosError, match="unknown official architecture"):
        load_official(path, "w99")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(GazevosError, match="cannot read checkpoint"):
        load_official(tmp_path / "junk.pth", "w18-small-v1")
