"""RANet with the U^2-Netp encoder: strides, gradients, strict loading of U^2-Netp weights
(a state dict and an ONNX export written here), checkpoint round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.models.ranet import RANet, RANetConfig, load_checkpoint, to_checkpoint
from gazevos.models.ranet.u2net_encoder import U2NetpBackbone, load_u2netp_encoder
from gazevos.models.u2netp import U2Netp

TINY = RANetConfig(encoder="u2netp", feature_dim=8, template_grid=(2, 3), num_ranked=4,
                   decoder_scale=0.0625, ranking_width=4)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_backbone_is_u2netp_on_the_halved_input() -> None:
    torch.manual_seed(0)
    net = U2Netp()
    bb = U2NetpBackbone()
    bb.stages.load_state_dict(net.stages[:5].state_dict())
    x = torch.randn(1, 3, 64, 96)
    feats = bb(x)
    assert [tuple(f.shape) for f in feats] == [(1, 64, 64 // 2 ** k, 96 // 2 ** k)
                                               for k in range(1, 6)]
    want = net.encode(torch.nn.functional.avg_pool2d(x, 2), depth=5)
    for f, w in zip(feats, want, strict=True):
        assert torch.allclose(f, w)


def test_gradients_reach_every_parameter(dead_ranet_parameters) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    assert not dead_ranet_parameters(RANet(TINY))


def test_load_from_state_dict_copies_the_encoder_only(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = U2Netp()
    torch.save(net.state_dict(), tmp_path / "u2.pt")
    model = RANet(TINY)
    decoder_before = model.R3[-1].weight.clone()
    load_u2netp_encoder(model, tmp_path / "u2.pt")
    got = model.base_model.state_dict()
    assert len(got) == 2 * 52  # stages 1-5: 14 + 12 + 10 + 8 + 8 convolutions
    for k, v in got.items():
        assert torch.equal(v, net.state_dict()[k]), k
    assert torch.equal(model.R3[-1].weight, decoder_before)
    # survives the RANet checkpoint round trip, architecture included
    torch.save(to_checkpoint(model), tmp_path / "ranet.pt")
    back = load_checkpoint(tmp_path / "ranet.pt")
    assert isinstance(back.base_model, U2NetpBackbone)
    assert torch.equal(back.base_model.stages[2].enc[1][0].weight,
                       net.stages[2].enc[1][0].weight)


def test_load_from_onnx_export(tmp_path: Path, write_u2netp_export) -> None:  # noqa: ANN001
    torch.manual_seed(2)
    net = U2Netp()
    write_u2netp_export(net, tmp_path / "u2netp.onnx")
    model = RANet(TINY)
    load_u2netp_encoder(model, tmp_path / "u2netp.onnx")
    assert torch.equal(model.base_model.stages[4].dec[0][0].bias, net.stages[4].dec[0][0].bias)


def test_loading_is_strict(tmp_path: Path) -> None:
    state = U2Netp().state_dict()
    bad = {k: (v[:1] if k == "stages.0.conv_in.0.weight" else v) for k, v in state.items()}
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(GazevosError, match="bad.pt"):
        load_u2netp_encoder(RANet(TINY), tmp_path / "bad.pt")
    torch.save({"other.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(GazevosError, match="no U2-Netp encoder weights"):
        load_u2netp_encoder(RANet(TINY), tmp_path / "other.pt")
    torch.save(state, tmp_path / "u2.pt")
    resnet = RANet(RANetConfig(widths=(4, 4, 8, 8), stem=4, feature_dim=8,
                               template_grid=(2, 3), num_ranked=4, decoder_scale=0.0625,
                               ranking_width=4))
    with pytest.raises(GazevosError, match="encoder: u2netp"):
        load_u2netp_encoder(resnet, tmp_path / "u2.pt")
