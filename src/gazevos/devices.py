"""Where models run: ``--device auto|cpu|cuda[:N]`` and automatic mixed precision (AMP).

Plain functions, nothing done at import time.  :func:`resolve_device` turns what a user
typed into a :class:`torch.device` (one-line :class:`~gazevos.errors.GazevosError` for a
name it does not know or a GPU that is not there); :func:`autocast` and
:func:`grad_scaler` give float16 mixed precision on CUDA and are no-ops on the CPU, so
CPU results are exactly those of code that does not use them.

The learned trackers (``mast``, ``ranet``, ``classic``'s MAST features) and every training
command take a device; the CPU is the default everywhere (README, GPU).  State saved on a
GPU (checkpoints, a tracker's resumable state) is read with ``map_location="cpu"``;
:func:`usable_device` and :func:`to_device` put a loaded tracker back on its GPU when the
machine has it, else leave it on the CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import deque
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from gazevos.errors import GazevosError

#: what ``--device`` accepts (``cuda:N`` picks one GPU of several)
DEVICE_NAMES = ("auto", "cpu", "cuda")
#: the default of every ``--device`` option
DEFAULT_DEVICE = "cpu"

_CPU = torch.device("cpu")


def resolve_device(name: str | torch.device | None, option: str = "--device") -> torch.device:
    """The device a user asked for.

    Args:
        name: ``auto`` (the current CUDA GPU, normally ``cuda:0``, when
            ``torch.cuda.is_available()``, else the CPU), ``cpu``, ``cuda`` (the current
            CUDA GPU), ``cuda:N``, a :class:`torch.device`, or None (the CPU).  Case and
            surrounding blanks are ignored.
        option: the option named in error messages.

    Returns:
        ``torch.device("cpu")`` or ``torch.device("cuda", index)`` (always with an index).

    Raises:
        GazevosError: one line: an unknown name, CUDA asked for where there is none, or a
            GPU index beyond the GPUs present.
    """
    if name is None:
        return _CPU
    text = device_name(name, option)
    if text == "auto":
        return _cuda(None) if torch.cuda.is_available() else _CPU
    if text == "cpu":
        return _CPU
    index = int(text[5:]) if text.startswith("cuda:") else None
    if not torch.cuda.is_available():
        raise GazevosError(f"{option} {text}: no CUDA GPU is available "
                           "(torch.cuda.is_available() is False)")
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise GazevosError(f"{option} {text}: this machine has {count} CUDA GPU"
                           f"{'s' if count != 1 else ''} (cuda:0 to cuda:{count - 1})")
    return _cuda(index)


def device_name(name: str | torch.device, option: str = "--device") -> str:
    """``name`` checked and normalised (``auto``, ``cpu``, ``cuda`` or ``cuda:N``, lower
    case) without asking whether this machine has that GPU (a study file names the device
    of the machines that will run it).

    Raises:
        GazevosError: one line naming the allowed values.
    """
    text = str(name).strip().lower()
    if text in DEVICE_NAMES or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise GazevosError(f"{option}: '{str(name).strip()}' is not a device (choose auto, cpu, "
                       "cuda or cuda:N)")


def _cuda(index: int | None) -> torch.device:
    """``cuda:index``; None: the current CUDA device."""
    return torch.device("cuda", torch.cuda.current_device() if index is None else index)


def amp_enabled(device: torch.device, amp: bool | None = None) -> bool:
    """Whether mixed precision is used: on CUDA unless ``amp`` is False; never on the CPU
    (``amp`` is ignored there)."""
    return device.type == "cuda" and amp is not False


def describe(device: torch.device, amp: bool) -> str:
    """``cpu``, or ``cuda:0 (NAME, AMP float16)`` / ``cuda:0 (NAME, float32)``."""
    if device.type != "cuda":
        return str(device)
    name = torch.cuda.get_device_name(device)
    return f"{device} ({name}, {'AMP float16' if amp else 'float32'})"


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """Run the block under float16 autocast on CUDA when ``enabled``; a no-op on the CPU
    (the CPU results stay bit-identical to code without it)."""
    if device.type == "cuda" and enabled:
        with torch.autocast("cuda", dtype=torch.float16):
            yield
    else:
        yield


def grad_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """The loss scaler of AMP training: active on CUDA when ``enabled``; otherwise a
    pass-through (``scale(loss)`` is ``loss``, ``step(opt)`` is ``opt.step()``)."""
    return torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and enabled)


def usable_device(device: torch.device | str | None) -> torch.device:
    """``device`` when this machine has it, else the CPU (a tracker saved on a GPU and
    loaded where there is none, or fewer GPUs)."""
    if device is None:
        return _CPU
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        if device.index is None or device.index < torch.cuda.device_count():
            return device
    return _CPU


def to_device(value: Any, device: torch.device, memo: dict[int, Any] | None = None) -> Any:
    """``value`` with every tensor in it on ``device``.

    Walks tensors, modules (moved in place with ``.to``), dicts, lists, tuples, deques
    (their ``maxlen`` kept) and non-frozen dataclass instances (updated in place).  A tensor
    or container reached twice is moved once and stays shared.  Other values are returned
    as they are.
    """
    memo = {} if memo is None else memo
    key = id(value)
    if key in memo:
        return memo[key]
    out: Any
    if isinstance(value, torch.Tensor):
        out = value.to(device)
    elif isinstance(value, nn.Module):
        out = value.to(device)
    elif isinstance(value, dict):
        out = type(value)((k, to_device(v, device, memo)) for k, v in value.items())
    elif isinstance(value, deque):
        out = deque((to_device(v, device, memo) for v in value), maxlen=value.maxlen)
    elif isinstance(value, list):
        out = [to_device(v, device, memo) for v in value]
    elif isinstance(value, tuple) and not hasattr(value, "_fields"):
        out = tuple(to_device(v, device, memo) for v in value)
    elif (dataclasses.is_dataclass(value) and not isinstance(value, type)
          and not value.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        for f in dataclasses.fields(value):
            setattr(value, f.name, to_device(getattr(value, f.name), device, memo))
        out = value
    else:
        out = value
    memo[key] = out
    return out


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU when it has none)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return _CPU


class OnDevice(nn.Module):
    """A one-input model run on ``device`` for callers that pass CPU tensors and read its
    output on the CPU (e.g. :func:`gazevos.models.semseg.infer.predict_probs`).

    ``forward(x)``: ``x`` (any shape, CPU) is moved to ``device``, the model runs there
    (under :func:`autocast` when ``amp``), and its output comes back as float32 on the CPU.

    Args:
        model: the wrapped model (moved to ``device``).
        device: where it runs.
        amp: float16 autocast on CUDA.
    """

    def __init__(self, model: nn.Module, device: torch.device, amp: bool = False) -> None:
        super().__init__()
        self.model = model.to(device)
        self.device = device
        self.amp = amp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.amp):
            y = self.model(x.to(self.device))
        return y.float().cpu()


def restore_device(obj: Any) -> None:
    """Put an object read from a saved state back on its device (a tracker's
    ``_rebuild_transient``; learned feature extractors).

    ``obj.device`` and ``obj.amp`` are the device and AMP switch it was saved with (absent:
    the CPU, no AMP; states saved before devices existed).  States are read with
    ``map_location="cpu"``: on a machine with that GPU every tensor and module in
    ``obj.__dict__`` goes back onto it, elsewhere the object goes on on the CPU.
    """
    obj.device = usable_device(getattr(obj, "device", None))
    obj.amp = bool(getattr(obj, "amp", False)) and obj.device.type == "cuda"
    if obj.device.type != "cpu":
        obj.__dict__.update(to_device(dict(obj.__dict__), obj.device))


class Autocast(nn.Module):
    """``module`` run under :func:`autocast` (float16 on CUDA when ``enabled``; a no-op on
    the CPU), a floating-point tensor output cast back to float32.

    For a model whose output feeds code that needs float32 (MAST's memory search: its
    interpolation weights are float32): only the wrapped module runs in mixed precision.
    Its parameters keep their names under ``module.`` (use the wrapped module to save).
    """

    def __init__(self, module: nn.Module, device: torch.device, enabled: bool = True) -> None:
        super().__init__()
        self.module = module
        self.device = device
        self.enabled = enabled

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with autocast(self.device, self.enabled):
            out = self.module(*args, **kwargs)
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            return out.float()
        return out
