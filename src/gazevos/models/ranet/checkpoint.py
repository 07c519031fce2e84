"""RANet checkpoints: the gazevos format and the public release's layout.

gazevos checkpoints are dicts ``{"format": "gazevos-ranet", "version", "model_config",
"state_dict", ...}``.  The released RANet weights (``RANet_video_single.pth`` etc.) are a
bare ``state_dict`` of the ResNet-101 model (optionally with a ``module.`` prefix from
DataParallel); :func:`load_official` loads them into :data:`OFFICIAL_CONFIG` strictly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from gazevos.errors import GazevosError
from gazevos.models import checkpoint as ckpt
from gazevos.models.ranet.model import OFFICIAL_CONFIG, RANet, RANetConfig

CHECKPOINT_FORMAT = "gazevos-ranet"
CHECKPOINT_VERSION = 1

#: Modules of the release that its forward pass never uses (dropped when loading).
OFFICIAL_UNUSED = ("rank_A.", "p_1b.", "res_1b.", "p_2b.", "base_model.fc.")


def config_from_dict(data: Any, source: str) -> RANetConfig:
    """Rebuild a :class:`RANetConfig` from its plain-dict form; one-line errors."""
    return ckpt.model_config(RANetConfig, data, source)


def to_checkpoint(model: RANet, **extra: Any) -> dict[str, Any]:
    """Checkpoint dict of a model (weights + architecture) plus ``extra`` entries."""
    return ckpt.make_checkpoint(CHECKPOINT_FORMAT, CHECKPOINT_VERSION, model, **extra)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a gazevos RANet checkpoint as a dict (CPU tensors); one-line errors."""
    return ckpt.read_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "RANet")


def official_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The release's state dict mapped to :class:`RANet` keys (prefix ``module.`` removed,
    unused modules dropped)."""
    out = {}
    for k, v in state.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if not k.startswith(OFFICIAL_UNUSED):
            out[k] = v
    return out


def load_official(path: str | Path, **changes: Any) -> RANet:
    """Build the ResNet-101 RANet and load the released weights strictly.

    Args:
        path: a ``.pth`` of the public release (a bare state dict).
        changes: RAM switches to change (e.g. ``discriminant=True``); architecture fields
            must stay as released.

    Raises:
        GazevosError: unreadable file, or keys/shapes that differ from the release layout.
    """
    path = Path(path)
    data = ckpt.torch_load(path)
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise GazevosError("not a RANet state dict", path)
    with torch.device("meta"):  # no 60 M-weight random init: the file provides every weight
        model = RANet(dataclasses.replace(OFFICIAL_CONFIG, **changes))
    ckpt.load_state_strict(model, official_state(data), str(path), assign=True)
    return model.eval()


def load_checkpoint(path: str | Path, **changes: Any) -> RANet:
    """Build the model stored in a checkpoint (gazevos format or the release layout), in
    eval mode; ``changes`` override RAM switches of the stored config."""
    return load_with_input_size(path, **changes)[0]


def load_with_input_size(path: str | Path, **changes: Any) -> tuple[RANet, tuple[int, int]]:
    """Like :func:`load_checkpoint`, plus the input ``(H, W)`` the model was trained at
    (480x864 for the release)."""
    path = Path(path)
    data = ckpt.torch_load(path)
    if isinstance(data, dict) and "format" not in data:
        return load_official(path, **changes), (480, 864)
    data = read_checkpoint(path)
    cfg = config_from_dict(data.get("model_config"), str(path))
    model = RANet(dataclasses.replace(cfg, **changes))
    ckpt.load_state_strict(model, ckpt.checkpoint_weights(data, path), str(path))
    size = data.get("input_size", (480, 864))
    return model.eval(), (int(size[0]), int(size[1]))


def default_checkpoint() -> Path:
    """Path of the shipped RANet model (``gazevos/checkpoints/ranet.pt``).

    Raises:
        GazevosError: the package ships no RANet model.
    """
    return ckpt.shipped_checkpoint("ranet.pt", "RANet", "gazevos train ranet")
