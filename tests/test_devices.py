"""``gazevos.devices``: device names, AMP switches (no-ops on the CPU), moving saved state.

Every test runs on the CPU; where CUDA matters, ``torch.cuda`` is monkeypatched to report
GPUs, and nothing runs a CUDA kernel.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pytest
import torch

from gazevos.devices import (
    OnDevice,
    amp_enabled,
    autocast,
    grad_scaler,
    module_device,
    resolve_device,
    restore_device,
    to_device,
    usable_device,
)
from gazevos.errors import GazevosError

CPU = torch.device("cpu")


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without CUDA (also where the tests happen to run on one)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch.cuda`` reports two GPUs, the current one 0 (no kernel is ever run)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize("name", ["auto", "cpu", " CPU ", "Auto", None, CPU])
def test_auto_and_cpu_are_the_cpu_without_a_gpu(name: object) -> None:
    assert resolve_device(name) == CPU  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_a_gpu_is_one_line(name: str) -> None:
    with pytest.raises(GazevosError) as err:
        resolve_device(name)
    text = str(err.value)
    assert "\n" not in text and "no CUDA GPU is available" in text
    assert text.startswith(f"--device {name.lower()}:")


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "mps", "cpu:0", "", "cuda:-1"])
def test_unknown_names_are_refused_naming_the_choices(name: str) -> None:
    with pytest.raises(GazevosError, match="is not a device .choose auto, cpu, cuda or cuda:N"):
        resolve_device(name)


def test_the_option_is_named_in_messages() -> None:
    with pytest.raises(GazevosError, match="^device: 'gpu'"):
        resolve_device("gpu", option="device")


@pytest.mark.usefixtures("two_gpus")
def test_with_gpus_auto_and_cuda_pick_the_current_one_and_cuda_n_is_checked() -> None:
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == CPU
    with pytest.raises(GazevosError, match=r"--device cuda:2: this machine has 2 CUDA GPUs "
                                           r"\(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


def test_amp_is_on_by_default_on_cuda_only() -> None:
    cuda = torch.device("cuda", 0)
    assert amp_enabled(cuda) and amp_enabled(cuda, True) and not amp_enabled(cuda, False)
    assert not any(amp_enabled(CPU, a) for a in (None, True, False))


def test_autocast_is_a_no_op_on_the_cpu() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    x = torch.rand(2, 3, 9, 9)
    plain = net(x)
    with autocast(CPU, True):
        assert not torch.is_autocast_enabled("cpu")
        inside = net(x)
    assert inside.dtype == torch.float32 and torch.equal(plain, inside)


def test_grad_scaler_is_a_pass_through_on_the_cpu() -> None:
    scaler = grad_scaler(CPU, True)
    assert not scaler.is_enabled()
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.SGD([w], lr=0.5)
    loss = (w ** 2).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.step(opt)
    scaler.update()
    assert torch.equal(w.detach(), torch.tensor([0.0, 0.0]))  # w - 0.5 * 2w


@dataclass
class _Entry:
    feat: torch.Tensor
    cache: dict[str, torch.Tensor]


def test_to_device_walks_containers_and_keeps_sharing() -> None:
    shared = torch.ones(2)
    entry = _Entry(torch.zeros(3), {"a": shared})
    state = {"long": {0: entry}, "given": deque([entry], maxlen=2), "pair": (shared, 3),
             "list": [shared], "model": torch.nn.Linear(2, 2), "name": "x"}
    out = to_device(state, CPU)
    assert out["long"][0] is out["given"][0] is entry  # a dataclass is updated in place
    assert out["given"].maxlen == 2
    assert out["pair"][0] is out["list"][0] is entry.cache["a"]  # moved once, still shared
    assert out["pair"][1] == 3 and out["name"] == "x"
    assert module_device(out["model"]) == CPU


@pytest.mark.usefixtures("no_gpu")
def test_state_saved_on_a_gpu_goes_on_on_the_cpu_without_one() -> None:
    assert usable_device(torch.device("cuda", 0)) == CPU
    assert usable_device("cpu") == CPU and usable_device(None) == CPU

    class Saved:
        pass

    obj = Saved()
    obj.device, obj.amp, obj.t = torch.device("cuda", 1), True, torch.ones(1)  # type: ignore[attr-defined]
    restore_device(obj)
    assert obj.device == CPU and obj.amp is False  # type: ignore[attr-defined]
    old = Saved()  # saved before devices existed
    restore_device(old)
    assert old.device == CPU and old.amp is False  # type: ignore[attr-defined]


@pytest.mark.usefixtures("two_gpus")
def test_a_machine_with_fewer_gpus_falls_back_to_the_cpu() -> None:
    assert usable_device("cuda:1") == torch.device("cuda", 1)
    assert usable_device("cuda:5") == CPU


def test_on_device_wrapper_on_the_cpu_gives_the_models_output() -> None:
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 2, 3)
    x = torch.rand(1, 3, 8, 8)
    wrapped = OnDevice(net, CPU, amp=True)
    assert torch.equal(wrapped(x), net(x))
    wrapped.eval()
    assert not net.training  # train / eval reach the wrapped model
