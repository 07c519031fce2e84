"""Fixtures of the model tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from gazevos.models.u2netp import U2Netp


@pytest.fixture
def write_u2netp_export() -> Callable[..., None]:
    """``write(net, path, drop_last=False)``: an ONNX graph holding ``net``'s convolutions
    in forward order with anonymous initializer names (as in the real export, where batch
    norm was folded in); ``drop_last`` leaves out the last one."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    def write(net: U2Netp, path: Path, drop_last: bool = False) -> None:
        convs = net.convs()[:-1] if drop_last else net.convs()
        nodes, inits = [], []
        prev = "input"
        for k, conv in enumerate(convs):
            w, b = f"{1000 + 2 * k}", f"{1001 + 2 * k}"
            inits += [numpy_helper.from_array(conv.weight.detach().numpy(), w),
                      numpy_helper.from_array(conv.bias.detach().numpy(), b)]
            nodes.append(helper.make_node("Conv", [prev, w, b], [f"y{k}"]))
            prev = f"y{k}"
        graph = helper.make_graph(
            nodes, "u2netp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, None)],
            [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)], inits)
        onnx.save(helper.make_model(graph), str(path))

    return write


@pytest.fixture
def dead_ranet_parameters() -> Callable[[torch.nn.Module], list[str]]:
    """``check(model)``: one training pass of a RANet on a 2 x 64 x 96 pair (target = the
    mirrored template); returns the names of parameters that got no gradient."""

    def check(model: torch.nn.Module) -> list[str]:
        img = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
        mask = torch.zeros(2, 1, 64, 96)
        mask[:, :, 16:40, 20:60] = 1.0
        out = model(img, mask, img.flip(-1), mask)
        assert out.shape == (2, 1, 64, 96)
        out.square().mean().backward()
        return [n for n, p in model.named_parameters()
                if p.grad is None or not p.grad.abs().sum()]

    return check
