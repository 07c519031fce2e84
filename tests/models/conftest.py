"""Fixtures of the model tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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
