"""RANet with the MAST encoder: colour conversion, shapes, gradients, strict MAST loading."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.models.mast import MastModel, MastModelConfig, model_to_checkpoint, rgb_to_lab
from gazevos.models.ranet import RANet, RANetConfig, load_checkpoint, normalise_image, to_checkpoint
from gazevos.models.ranet.mast_encoder import MastBackbone, imagenet_to_lab, load_mast_encoder

MAST_TINY = MastModelConfig(widths=(4, 8, 8), depths=(1, 1, 1), feature_dim=6)
TINY = RANetConfig(encoder="mast", widths=(4, 4, 8, 8), feature_dim=8, template_grid=(2, 3),
                   num_ranked=4, decoder_scale=0.0625, ranking_width=4,
                   mast_widths=(4, 8, 8), mast_depths=(1, 1, 1), mast_dim=6)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convolutions: threads only add overhead


def _to_net(img: np.ndarray) -> torch.Tensor:
    return normalise_image(torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0))


def test_lab_conversion_known_colours_and_opencv() -> None:
    img = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    lab = imagenet_to_lab(_to_net(img))[0, :, 0].T  # (3 pixels, 3 channels)
    # white L=100, a=b=0; black L=0; sRGB red L*a*b* = (53.24, 80.09, 67.20)
    want = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0],
                         [(53.24 - 50) / 50, 80.09 / 128, 67.20 / 128]])
    assert torch.allclose(lab, want, atol=2e-3)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    ref = torch.from_numpy(rgb_to_lab(img))  # OpenCV, what MAST was trained on
    assert torch.allclose(imagenet_to_lab(_to_net(img))[0], ref, atol=1e-2)


def test_backbone_strides_and_channels() -> None:
    net = MastBackbone((4, 8, 8), (1, 1, 1), 6, (5, 7, 9))
    feats = net(torch.randn(2, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(2, 4, 32, 48), (2, 6, 16, 24), (2, 5, 8, 12),
                                               (2, 7, 4, 6), (2, 9, 2, 3)]
    assert net.channels == (4, 6, 5, 7, 9)


def test_gradients_reach_every_parameter(dead_ranet_parameters) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    assert not dead_ranet_parameters(RANet(TINY))


def _mast_file(tmp_path: Path, config: MastModelConfig = MAST_TINY) -> tuple[Path, MastModel]:
    torch.manual_seed(1)
    mast = MastModel(config)
    for m in mast.modules():  # non-default statistics: they must be copied too
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    path = tmp_path / "mast.pt"
    torch.save(model_to_checkpoint(mast), path)
    return path, mast


def test_load_mast_encoder_copies_every_weight(tmp_path: Path) -> None:
    path, mast = _mast_file(tmp_path)
    model = RANet(TINY)
    src = mast.encoder.state_dict()
    before = model.base_model.mast.state_dict()
    assert not torch.equal(before["stem.0.weight"], src["stem.0.weight"])
    others = {k: v.clone() for k, v in model.state_dict().items() if ".mast." not in k}
    load_mast_encoder(model, path)
    after = model.base_model.mast.state_dict()
    assert set(after) == set(src)
    for k, v in src.items():
        assert torch.equal(after[k], v), k
    for k, v in model.state_dict().items():  # nothing else touched
        if ".mast." not in k:
            assert torch.equal(v, others[k]), k
    # the loaded RANet round-trips through its own checkpoint format
    torch.save(to_checkpoint(model), tmp_path / "r.pt")
    back = load_checkpoint(tmp_path / "r.pt")
    assert torch.equal(back.state_dict()["base_model.mast.head.weight"], src["head.weight"])


def test_load_mast_encoder_is_strict(tmp_path: Path) -> None:
    path, _ = _mast_file(tmp_path, dataclasses.replace(MAST_TINY, feature_dim=5))
    with pytest.raises(GazevosError, match="has shape"):
        load_mast_encoder(RANet(TINY), path)
    path, _ = _mast_file(tmp_path, dataclasses.replace(MAST_TINY, depths=(1, 2, 1)))
    with pytest.raises(GazevosError, match="unexpected keys"):
        load_mast_encoder(RANet(TINY), path)
    with pytest.raises(GazevosError, match="encoder: mast"):
        load_mast_encoder(RANet(dataclasses.replace(TINY, encoder="resnet")), path)
    torch.save(to_checkpoint(RANet(TINY)), tmp_path / "ranet.pt")
    with pytest.raises(GazevosError, match="not a gazevos MAST checkpoint"):
        load_mast_encoder(RANet(TINY), tmp_path / "ranet.pt")


def test_unknown_encoder_is_refused() -> None:
    with pytest.raises(ValueError, match="resnet, mast or u2netp"):
        RANet(dataclasses.replace(TINY, encoder="vgg"))
