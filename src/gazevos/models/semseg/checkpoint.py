"""Segmentation checkpoints: the gazevos format and the official HRNet release layout.

gazevos checkpoints (``format: gazevos-semseg``) carry the architecture, the class names
and colours with the weights, so ``gazevos segment --checkpoint C`` needs nothing else.

Official HRNet semantic-segmentation checkpoints (``hrnet_w48_cityscapes_cls19_...pth``,
``hrnet_w18_small_v1/v2_cityscapes_...pth``) are plain state dicts saved from the training
wrapper, so their keys may start with ``model.`` (and, from multi-GPU training,
``module.``); wrapper-only entries (``loss.*``, the criterion's class weights) are dropped.
Models trained with in-place ABN have no ``num_batches_tracked`` buffers; those are the
only keys allowed to be missing.  Every other mismatch is a one-line
:class:`~gazevos.errors.GazevosError` listing the missing and unexpected keys.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gazevos.config import config_to_dict
from gazevos.errors import GazevosError
from gazevos.models.semseg.classes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from gazevos.models.semseg.hrnet import ARCHITECTURES, HRNet, HRNetConfig, StageConfig

CHECKPOINT_FORMAT = "gazevos-semseg"
CHECKPOINT_VERSION = 1
#: prefixes of the official training wrappers, stripped from keys
WRAPPER_PREFIXES = ("module.", "model.")
#: architectures of the official release
OFFICIAL = ("w48", "w18-small-v1", "w18-small-v2")
#: keys of the training wrapper that are not model weights
WRAPPER_ONLY = ("loss.",)


def _short(keys: list[str]) -> str:
    return f"{len(keys)} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load weights requiring the exact key set and shapes.

    ``num_batches_tracked`` buffers may be absent (they keep the model's value).

    Raises:
        GazevosError: one line listing missing / unexpected keys or the first shape mismatch.
    """
    own = model.state_dict()
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
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
    model.load_state_dict({**own, **state}, strict=True)


def _torch_load(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise GazevosError("checkpoint file not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise GazevosError(f"cannot read checkpoint ({exc.__class__.__name__})", path) from exc


def official_state(data: Any, source: str) -> dict[str, torch.Tensor]:
    """The model weights of an official release state dict, wrapper prefixes removed."""
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not data:
        raise GazevosError("not a state dict", source)
    state = {str(k): v for k, v in data.items() if not str(k).startswith(WRAPPER_ONLY)}
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_official(path: str | Path, arch: str) -> HRNet:
    """Build an official Cityscapes HRNet (``w48``, ``w18-small-v1``, ``w18-small-v2``)
    from a release checkpoint, in eval mode.

    Raises:
        GazevosError: unknown architecture, unreadable file, or keys / shapes that do not
            match the architecture.
    """
    if arch not in OFFICIAL:
        known = ", ".join(OFFICIAL)
        raise GazevosError(f"unknown official architecture '{arch}' (known: {known})")
    model = HRNet(ARCHITECTURES[arch])
    load_state_strict(model, official_state(_torch_load(path), str(path)), str(path))
    model.classes = CITYSCAPES_CLASSES  # type: ignore[assignment]
    model.palette = CITYSCAPES_PALETTE.copy()  # type: ignore[assignment]
    return model.eval()


def config_from_dict(data: Any, source: str) -> HRNetConfig:
    """Rebuild an :class:`HRNetConfig` from its plain-dict form; one-line errors."""
    if not isinstance(data, dict):
        raise GazevosError("checkpoint has no model config", source)
    try:
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(HRNetConfig):
            if f.name not in data:
                continue
            v = data[f.name]
            if f.name.startswith("stage"):
                v = StageConfig(**{k: tuple(x) if isinstance(x, list) else x
                                   for k, x in v.items()})
            kw[f.name] = v
        unknown = set(data) - {f.name for f in dataclasses.fields(HRNetConfig)}
        if unknown:
            raise TypeError(f"unknown fields {sorted(unknown)}")
        return HRNetConfig(**kw)
    except (TypeError, AttributeError) as exc:
        raise GazevosError(f"bad model config in checkpoint ({exc})", source) from exc


def model_to_checkpoint(model: HRNet, classes: tuple[str, ...], palette: np.ndarray,
                        **extra: Any) -> dict[str, Any]:
    """The gazevos checkpoint dict of a model (weights, architecture, classes, colours)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model_config": config_to_dict(model.config), "classes": list(classes),
            "palette": np.asarray(palette, dtype=np.uint8).tolist(), "state_dict": state,
            **extra}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a gazevos segmentation checkpoint as a dict; one-line errors."""
    data = _torch_load(path)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise GazevosError("not a gazevos segmentation checkpoint (for an official HRNet "
                           "release file pass its architecture with --arch)", path)
    if data.get("version") != CHECKPOINT_VERSION:
        raise GazevosError(f"unsupported segmentation checkpoint version "
                           f"{data.get('version')}", path)
    return data


def model_from_checkpoint(data: dict[str, Any], source: str) -> HRNet:
    """Build the model of a checkpoint dict (weights loaded strictly), in eval mode, with
    ``.classes`` (names) and ``.palette`` (``(C, 3)`` uint8) attached."""
    model = HRNet(config_from_dict(data.get("model_config"), source))
    state = data.get("state_dict")
    if not isinstance(state, dict):
        raise GazevosError("checkpoint has no weights", source)
    load_state_strict(model, state, source)
    classes = tuple(str(c) for c in data.get("classes", ()))
    if len(classes) != model.config.num_classes:
        raise GazevosError(f"checkpoint names {len(classes)} classes, the model has "
                           f"{model.config.num_classes}", source)
    model.classes = classes  # type: ignore[assignment]
    model.palette = np.asarray(data.get("palette"), dtype=np.uint8).reshape(-1, 3)  # type: ignore[assignment]
    return model.eval()


def load_model(path: str | Path, arch: str | None = None) -> HRNet:
    """A segmentation model from a gazevos checkpoint, or from an official release file
    when ``arch`` is given.  The model is in eval mode and has ``.classes``/``.palette``."""
    if arch:
        return load_official(path, arch)
    return model_from_checkpoint(read_checkpoint(path), str(path))
