"""RANet checkpoints: the gazevos format and the public release's layout.

gazevos checkpoints are dicts ``{"format": "gazevos-ranet", "version", "model_config",
"state_dict", ...}``.  The released RANet weights (``RANet_video_single.pth`` etc.) are a
bare ``state_dict`` of the ResNet-101 model (optionally with a ``module.`` prefix from
DataParallel); :func:`load_official` loads them into :data:`OFFICIAL_CONFIG` strictly.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from gazevos.config import config_to_dict
from gazevos.errors import GazevosError
from gazevos.models.ranet.model import OFFICIAL_CONFIG, RANet, RANetConfig

CHECKPOINT_FORMAT = "gazevos-ranet"
CHECKPOINT_VERSION = 1

#: Modules of the release that its forward pass never uses (dropped when loading).
OFFICIAL_UNUSED = ("rank_A.", "p_1b.", "res_1b.", "p_2b.", "base_model.fc.")


def config_from_dict(data: Any, source: str) -> RANetConfig:
    """Rebuild a :class:`RANetConfig` from its plain-dict form; one-line errors."""
    if not isinstance(data, dict):
        raise GazevosError("checkpoint has no model config", source)
    known = {f.name for f in dataclasses.fields(RANetConfig)}
    unknown = set(data) - known
    if unknown:
        raise GazevosError(f"checkpoint model config has unknown fields {sorted(unknown)}",
                           source)
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return RANetConfig(**kw)
    except TypeError as exc:
        raise GazevosError(f"bad model config in checkpoint ({exc})", source) from exc


def to_checkpoint(model: RANet, **extra: Any) -> dict[str, Any]:
    """Checkpoint dict of a model (weights + architecture) plus ``extra`` entries."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model_config": config_to_dict(model.config), "state_dict": state, **extra}


def _torch_load(path: Path) -> Any:
    if not path.is_file():
        raise GazevosError("checkpoint file not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise GazevosError(f"cannot read checkpoint ({exc.__class__.__name__})", path) from exc


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a gazevos RANet checkpoint as a dict (CPU tensors); one-line errors."""
    path = Path(path)
    data = _torch_load(path)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise GazevosError("not a gazevos RANet checkpoint", path)
    if data.get("version") != CHECKPOINT_VERSION:
        raise GazevosError(f"unsupported RANet checkpoint version {data.get('version')}", path)
    return data


def check_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse missing / unexpected keys and shape mismatches (one-line :class:`GazevosError`)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:3]}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:3]}"
                         f"{' ...' if len(unexpected) > 3 else ''}")
        raise GazevosError("checkpoint does not match the model: " + "; ".join(parts), source)
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise GazevosError(f"checkpoint does not match the model: '{k}' has shape "
                               f"{tuple(v.shape)}, the model expects {tuple(own[k].shape)}",
                               source)


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
    data = _torch_load(path)
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise GazevosError("not a RANet state dict", path)
    with torch.device("meta"):  # no 60 M-weight random init: the file provides every weight
        model = RANet(dataclasses.replace(OFFICIAL_CONFIG, **changes))
    state = official_state(data)
    check_state(model, state, str(path))
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def load_checkpoint(path: str | Path, **changes: Any) -> RANet:
    """Build the model stored in a checkpoint (gazevos format or the release layout), in
    eval mode; ``changes`` override RAM switches of the stored config."""
    return load_with_input_size(path, **changes)[0]


def load_with_input_size(path: str | Path, **changes: Any) -> tuple[RANet, tuple[int, int]]:
    """Like :func:`load_checkpoint`, plus the input ``(H, W)`` the model was trained at
    (480x864 for the release)."""
    path = Path(path)
    data = _torch_load(path)
    if isinstance(data, dict) and "format" not in data:
        return load_official(path, **changes), (480, 864)
    data = read_checkpoint(path)
    cfg = config_from_dict(data.get("model_config"), str(path))
    model = RANet(dataclasses.replace(cfg, **changes))
    state = data.get("state_dict")
    if not isinstance(state, dict):
        raise GazevosError("checkpoint has no weights", path)
    check_state(model, state, str(path))
    model.load_state_dict(state, strict=True)
    size = data.get("input_size", (480, 864))
    return model.eval(), (int(size[0]), int(size[1]))


def default_checkpoint() -> Path:
    """Path of the shipped RANet model (``gazevos/checkpoints/ranet.pt``).

    Raises:
        GazevosError: the package ships no RANet model.
    """
    path = Path(str(resources.files("gazevos") / "checkpoints" / "ranet.pt"))
    if not path.is_file():
        raise GazevosError("no shipped RANet model in this installation; pass --checkpoint "
                           "(train one with 'gazevos train ranet')", path)
    return path
