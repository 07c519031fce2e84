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

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gazevos.errors import GazevosError
from gazevos.models import checkpoint as ckpt
from gazevos.models.semseg.classes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from gazevos.models.semseg.hrnet import ARCHITECTURES, HRNet, HRNetConfig

CHECKPOINT_FORMAT = "gazevos-semseg"
CHECKPOINT_VERSION = 1
#: prefixes of the official training wrappers, stripped from keys
WRAPPER_PREFIXES = ("module.", "model.")
#: architectures of the official release
OFFICIAL = ("w48", "w18-small-v1", "w18-small-v2")
#: keys of the training wrapper that are not model weights
WRAPPER_ONLY = ("loss.",)


#: state-dict key suffixes that may be absent (models trained with in-place ABN)
MAY_MISS = ("num_batches_tracked",)


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load weights requiring the exact key set and shapes.

    ``num_batches_tracked`` buffers may be absent (they keep the model's value).

    Raises:
        GazevosError: one line listing missing / unexpected keys or the first shape mismatch.
    """
    ckpt.load_state_strict(model, state, source, may_miss=MAY_MISS)


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
    load_state_strict(model, official_state(ckpt.torch_load(path), str(path)), str(path))
    model.classes = CITYSCAPES_CLASSES  # type: ignore[assignment]
    model.palette = CITYSCAPES_PALETTE.copy()  # type: ignore[assignment]
    return model.eval()


def config_from_dict(data: Any, source: str) -> HRNetConfig:
    """Rebuild an :class:`HRNetConfig` from its plain-dict form; one-line errors."""
    return ckpt.model_config(HRNetConfig, data, source)


def model_to_checkpoint(model: HRNet, classes: tuple[str, ...], palette: np.ndarray,
                        **extra: Any) -> dict[str, Any]:
    """The gazevos checkpoint dict of a model (weights, architecture, classes, colours)."""
    return ckpt.make_checkpoint(CHECKPOINT_FORMAT, CHECKPOINT_VERSION, model,
                                classes=list(classes),
                                palette=np.asarray(palette, dtype=np.uint8).tolist(), **extra)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a gazevos segmentation checkpoint as a dict; one-line errors."""
    return ckpt.read_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "segmentation",
                                " (for an official HRNet release file pass its architecture "
                                "with --arch)")


def model_from_checkpoint(data: dict[str, Any], source: str) -> HRNet:
    """Build the model of a checkpoint dict (weights loaded strictly), in eval mode, with
    ``.classes`` (names) and ``.palette`` (``(C, 3)`` uint8) attached."""
    model = HRNet(config_from_dict(data.get("model_config"), source))
    load_state_strict(model, ckpt.checkpoint_weights(data, source), source)
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
