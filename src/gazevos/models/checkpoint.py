"""Checkpoint reading and strict weight loading shared by every gazevos model.

Inference-side only (training imports this module, never the other way round).  A gazevos
checkpoint is a ``torch.save``-d dict ``{"format": NAME, "version": N, "model_config":
{...}, "state_dict": {...}, ...}``; each model family (MAST, RANet, segmentation) names its
own format and adds its own entries.  Every problem is a one-line
:class:`~gazevos.errors.GazevosError` naming the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from gazevos.config import config_from_dict, config_to_dict
from gazevos.errors import GazevosError

T = TypeVar("T")


def torch_load(path: str | Path) -> Any:
    """Read a ``torch.save`` file with CPU tensors and ``weights_only=True``.

    Raises:
        GazevosError: the file is missing or cannot be unpickled as plain weights.
    """
    path = Path(path)
    if not path.is_file():
        raise GazevosError("checkpoint file not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise GazevosError(f"cannot read checkpoint ({exc.__class__.__name__})", path) from exc


def read_checkpoint(path: str | Path, fmt: str, version: int, what: str,
                    hint: str = "") -> dict[str, Any]:
    """Read a gazevos checkpoint of format ``fmt`` and ``version`` as a dict.

    Args:
        path: the file.
        fmt: the expected ``"format"`` entry (e.g. ``gazevos-mast``).
        version: the expected ``"version"`` entry.
        what: the model family in messages (``MAST``, ``RANet``, ``segmentation``).
        hint: appended to the "not a ... checkpoint" message (e.g. what else to try).

    Raises:
        GazevosError: unreadable file, another format, or another version.
    """
    data = torch_load(path)
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise GazevosError(f"not a gazevos {what} checkpoint{hint}", path)
    if data.get("version") != version:
        raise GazevosError(f"unsupported {what} checkpoint version {data.get('version')}", path)
    return data


def model_config(cls: type[T], data: Any, source: str) -> T:
    """Rebuild the architecture dataclass ``cls`` from a checkpoint's ``model_config``.

    Fields absent from ``data`` keep their defaults; lists become tuples; nested config
    dataclasses are rebuilt from nested mappings.

    Raises:
        GazevosError: no mapping, unknown fields, or a nested config that is not a mapping.
    """
    if not isinstance(data, dict):
        raise GazevosError("checkpoint has no model config", source)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise GazevosError(f"checkpoint model config has unknown fields {sorted(unknown)}",
                           source)
    defaults = cls()
    for name, value in data.items():
        if dataclasses.is_dataclass(getattr(defaults, name)) and not isinstance(value, dict):
            raise GazevosError(f"bad model config in checkpoint ('{name}' is not a mapping)",
                               source)
    return config_from_dict(cls, data, source)


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of a model's state dict (safe to keep while training goes on)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def make_checkpoint(fmt: str, version: int, model: nn.Module, **extra: Any) -> dict[str, Any]:
    """The checkpoint dict of ``model`` (which has a dataclass ``.config``): format,
    version, architecture, weights, plus ``extra`` entries."""
    return {"format": fmt, "version": version,
            "model_config": config_to_dict(model.config),  # type: ignore[arg-type]
            "state_dict": weights_of(model), **extra}


def checkpoint_weights(data: dict[str, Any], source: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` entry of a checkpoint dict (one-line error when absent)."""
    state = data.get("state_dict")
    if not isinstance(state, dict):
        raise GazevosError("checkpoint has no weights", source)
    return state


def _short(keys: list[str]) -> str:
    return f"{len(keys)} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"


def check_state(model: nn.Module, state: dict[str, Any], source: str | Path,
                may_miss: Sequence[str] = ()) -> None:
    """Refuse weights that do not fit ``model`` exactly.

    Args:
        model: the model the weights are for.
        state: name -> tensor.
        source: the file, for messages.
        may_miss: key suffixes allowed to be absent (e.g. ``num_batches_tracked``).

    Raises:
        GazevosError: one line listing the missing and unexpected keys (count and the first
            three), or naming the first entry that is not a tensor or has another shape.
    """
    own = model.state_dict()
    missing = sorted(k for k in set(own) - set(state) if not k.endswith(tuple(may_miss)))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_short(unexpected)}")
        raise GazevosError("checkpoint does not match the model: " + "; ".join(parts), source)
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise GazevosError(f"checkpoint entry '{k}' is not a tensor", source)
        if tuple(v.shape) != tuple(own[k].shape):
            raise GazevosError(f"checkpoint does not match the model: '{k}' has shape "
                               f"{tuple(v.shape)}, the model expects {tuple(own[k].shape)}",
                               source)


def load_state_strict(model: nn.Module, state: dict[str, Any], source: str | Path,
                      may_miss: Sequence[str] = (), assign: bool = False) -> None:
    """:func:`check_state`, then load the weights; allowed-missing entries keep the
    model's values.  ``assign``: take the tensors as they are (for models built on the
    ``meta`` device)."""
    check_state(model, state, source, may_miss)
    if may_miss:
        state = {**model.state_dict(), **state}
    model.load_state_dict(state, strict=True, assign=assign)


def shipped_checkpoint(name: str, what: str, command: str) -> Path:
    """Path of a model shipped in ``gazevos/checkpoints/`` (e.g. ``mast.pt``).

    Raises:
        GazevosError: this installation has no such file; the message says to pass
            --checkpoint or to train one with ``command``.
    """
    path = Path(str(resources.files("gazevos") / "checkpoints" / name))
    if not path.is_file():
        raise GazevosError(f"no shipped {what} model in this installation; pass --checkpoint "
                           f"(train one with '{command}')", path)
    return path
