"""The shared checkpoint reader and strict weight loading (gazevos.models.checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from gazevos.errors import GazevosError
from gazevos.models import checkpoint as ckpt


class Tiny(nn.Module):
    """``a``: Linear(2 -> 3), ``b``: BatchNorm1d(3) (has a num_batches_tracked buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.config = TinyConfig()
        self.a = nn.Linear(2, 3)
        self.b = nn.BatchNorm1d(3)


@dataclass(frozen=True)
class Inner:
    widths: tuple[int, ...] = (1, 2)
    temperature: float = 1.0


@dataclass(frozen=True)
class TinyConfig:
    depth: int = 2
    inner: Inner = Inner()


def _one_line_error(model: nn.Module, state: dict, source: str = "w.pt",
                    **kw: object) -> str:
    with pytest.raises(GazevosError) as err:
        ckpt.load_state_strict(model, state, source, **kw)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{source}: ")
    return msg


def test_strict_load_rejects_missing_unexpected_and_mismatched_keys() -> None:
    model = Tiny()
    good = {k: torch.full_like(v, 7) for k, v in model.state_dict().items()}
    missing = {k: v for k, v in good.items() if k != "a.bias"}
    assert _one_line_error(model, missing) == (
        "w.pt: checkpoint does not match the model: missing keys 1 (a.bias)")
    extra = {**good, "c.weight": torch.zeros(1), "c.bias": torch.zeros(1),
             "d.weight": torch.zeros(1), "e.weight": torch.zeros(1)}
    assert _one_line_error(model, extra) == (
        "w.pt: checkpoint does not match the model: unexpected keys 4 "
        "(c.bias, c.weight, d.weight, ...)")
    both = {**missing, "z": torch.zeros(1)}
    assert "missing keys 1 (a.bias); unexpected keys 1 (z)" in _one_line_error(model, both)
    wrong = {**good, "a.weight": torch.zeros(2, 3)}
    assert _one_line_error(model, wrong) == (
        "w.pt: checkpoint does not match the model: 'a.weight' has shape (2, 3), the model "
        "expects (3, 2)")
    assert "'a.bias' is not a tensor" in _one_line_error(model, {**good, "a.bias": [1, 2, 3]})
    # nothing was loaded by the failed attempts
    assert not torch.equal(model.a.weight, torch.full((3, 2), 7.0))
    ckpt.load_state_strict(model, good, "w.pt")
    assert torch.equal(model.a.weight, torch.full((3, 2), 7.0))


def test_may_miss_keeps_the_models_value() -> None:
    model = Tiny()
    model.b.num_batches_tracked.fill_(5)
    state = {k: torch.ones_like(v) for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    assert "missing keys 1 (b.num_batches_tracked)" in _one_line_error(model, state)
    ckpt.load_state_strict(model, state, "w.pt", may_miss=("num_batches_tracked",))
    assert int(model.b.num_batches_tracked) == 5 and torch.equal(model.b.bias, torch.ones(3))


def test_assign_loads_into_a_meta_model() -> None:
    with torch.device("meta"):
        model = Tiny()
    state = {k: torch.full(v.shape, 2.0, dtype=v.dtype) for k, v in
             Tiny().state_dict().items()}
    ckpt.load_state_strict(model, state, "w.pt", assign=True)
    assert model.a.weight.device.type == "cpu" and float(model.a.weight.detach().sum()) == 12.0


def test_make_and_read_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Tiny()
    data = ckpt.make_checkpoint("gazevos-tiny", 3, model, step=11)
    path = tmp_path / "t.pt"
    torch.save(data, path)
    back = ckpt.read_checkpoint(path, "gazevos-tiny", 3, "tiny")
    assert back["step"] == 11 and back["model_config"] == {"depth": 2, "inner": {
        "widths": [1, 2], "temperature": 1.0}}
    assert ckpt.model_config(TinyConfig, back["model_config"], str(path)) == TinyConfig()
    fresh = Tiny()
    ckpt.load_state_strict(fresh, ckpt.checkpoint_weights(back, path), path)
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
    # the copy does not follow later changes of the model
    with torch.no_grad():
        model.a.weight.add_(1.0)
    assert not torch.equal(data["state_dict"]["a.weight"], model.a.weight)


def test_read_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save({"format": "gazevos-other", "version": 3}, path)
    with pytest.raises(GazevosError, match=r"x.pt: not a gazevos tiny checkpoint \(hint\)$"):
        ckpt.read_checkpoint(path, "gazevos-tiny", 3, "tiny", " (hint)")
    torch.save({"format": "gazevos-tiny", "version": 9}, path)
    with pytest.raises(GazevosError, match="x.pt: unsupported tiny checkpoint version 9$"):
        ckpt.read_checkpoint(path, "gazevos-tiny", 3, "tiny")
    path.write_text("garbage")
    with pytest.raises(GazevosError, match=r"x.pt: cannot read checkpoint \(\w+\)$"):
        ckpt.torch_load(path)
    with pytest.raises(GazevosError, match="nope.pt: checkpoint file not found"):
        ckpt.torch_load(tmp_path / "nope.pt")
    with pytest.raises(GazevosError, match="x.pt: checkpoint has no weights"):
        ckpt.checkpoint_weights({"format": "gazevos-tiny"}, path)


def test_model_config_errors() -> None:
    assert ckpt.model_config(TinyConfig, {"inner": {"widths": [4]}}, "c.pt") == TinyConfig(
        inner=Inner(widths=(4,)))
    with pytest.raises(GazevosError, match="c.pt: checkpoint has no model config"):
        ckpt.model_config(TinyConfig, None, "c.pt")
    with pytest.raises(GazevosError, match=r"unknown fields \['size'\]"):
        ckpt.model_config(TinyConfig, {"size": 3}, "c.pt")
    with pytest.raises(GazevosError, match="'inner' is not a mapping"):
        ckpt.model_config(TinyConfig, {"inner": 3}, "c.pt")


def test_shipped_models_still_load() -> None:
    from gazevos.models.mast.model import MastModel, load_checkpoint
    from gazevos.models.ranet.checkpoint import load_with_input_size

    mast = load_checkpoint(ckpt.shipped_checkpoint("mast.pt", "MAST", "gazevos train mast"))
    assert isinstance(mast, MastModel) and not mast.training
    ranet, size = load_with_input_size(
        ckpt.shipped_checkpoint("ranet.pt", "RANet", "gazevos train ranet"))
    assert not ranet.training and len(size) == 2
    with pytest.raises(GazevosError, match="no shipped X model in this installation; pass "
                                           "--checkpoint \\(train one with 'make x'\\)"):
        ckpt.shipped_checkpoint("nothing.pt", "X", "make x")
