"""The MAST encoder, its input colour space and its checkpoint format.

Model size (why so slim): the thesis and the MAST paper use a ResNet-18 at stride 4, which
takes about 0.6 s per 480x854 frame on the 2 CPU cores this project targets.  The default
here is a 3-block ResNet (stem 32, stages of width 32 / 64 / 64 with one basic block each,
64-d output; 0.16 M parameters) run on frames downscaled by 2 (240x427 -> 60x107 features),
about 60 ms per frame on one core, so that encoding plus the memory read stay near the
5 frames/s budget and CPU-only training from scratch converges in hours, not days.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from gazevos.models import checkpoint as ckpt
from gazevos.models.backbones import ResNetEncoder
from gazevos.models.mast.propagate import AffinityConfig

CHECKPOINT_FORMAT = "gazevos-mast"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class MastModelConfig:
    """Architecture of the MAST encoder and how its features are compared.

    Attributes:
        widths: channels of the encoder stages (stage 1 has stride 2, the stem stride 2).
        depths: ResNet basic blocks per stage.
        feature_dim: dimension of the per-pixel feature vectors.
        affinity: how features are compared (cosine / correlation, temperatures).
    """

    widths: tuple[int, ...] = (32, 64, 64)
    depths: tuple[int, ...] = (1, 1, 1)
    feature_dim: int = 64
    affinity: AffinityConfig = AffinityConfig()


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """Convert an RGB image to the network's normalised LAB input.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.

    Returns:
        ``(3, H, W)`` float32: ``(L - 50) / 50``, ``a / 128``, ``b / 128`` (CIE L*a*b*,
        D65), each roughly in [-1, 1].
    """
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab[..., 0] = (lab[..., 0] - 50.0) / 50.0
    lab[..., 1:] /= 128.0
    return np.ascontiguousarray(lab.transpose(2, 0, 1))


class MastModel(nn.Module):
    """The MAST feature encoder.

    Args:
        config: architecture.

    Shapes: ``forward``: ``(B, 3, H, W)`` LAB (see :func:`rgb_to_lab`) ->
    ``(B, feature_dim, ceil(H / 4), ceil(W / 4))``.
    """

    def __init__(self, config: MastModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or MastModelConfig()
        self.encoder = ResNetEncoder(3, self.config.widths, self.config.depths,
                                     self.config.feature_dim)

    def forward(self, lab: torch.Tensor) -> torch.Tensor:
        return self.encoder(lab)


def encode_image(model: torch.nn.Module, image: np.ndarray, scale: float = 1.0,
                 drop_channel: int = -1, device: torch.device | None = None) -> torch.Tensor:
    """Encode one frame as the trackers do: resize, convert to LAB, run the encoder.

    Args:
        model: the encoder, on ``device``.
        image: ``(H, W, 3)`` uint8 RGB.
        scale: the frame is resized by this factor first (area interpolation).
        drop_channel: zero this LAB channel (0 L, 1 a, 2 b); -1 keeps all.
        device: where the encoder's input goes (None: the CPU).

    Returns:
        ``(1, D, ceil(H * scale / 4), ceil(W * scale / 4))`` features on ``device``.
    """
    if scale != 1.0:
        h, w = image.shape[:2]
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
    lab = torch.from_numpy(rgb_to_lab(image)).unsqueeze(0)
    if drop_channel >= 0:
        lab[:, drop_channel] = 0.0
    if device is not None:
        lab = lab.to(device)
    return model(lab)


def model_config_from_dict(data: dict[str, Any], source: str) -> MastModelConfig:
    """Rebuild a :class:`MastModelConfig` from its plain-dict form; one-line errors."""
    return ckpt.model_config(MastModelConfig, data, source)


def model_to_checkpoint(model: MastModel, **extra: Any) -> dict[str, Any]:
    """The checkpoint dict of a model (weights + architecture), plus ``extra`` entries."""
    return ckpt.make_checkpoint(CHECKPOINT_FORMAT, CHECKPOINT_VERSION, model, **extra)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a MAST checkpoint file as a dict (tensors on CPU); one-line errors."""
    return ckpt.read_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "MAST")


def load_checkpoint(path: str | Path) -> MastModel:
    """Build the model stored in a checkpoint, in eval mode.

    Raises:
        GazevosError: unreadable file, not a MAST checkpoint, or weights that do not fit
            the stored architecture (missing / unexpected keys, shape mismatch).
    """
    data = read_checkpoint(path)
    model = MastModel(model_config_from_dict(data.get("model_config"), str(path)))
    ckpt.load_state_strict(model, ckpt.checkpoint_weights(data, path), str(path))
    return model.eval()


def default_checkpoint() -> Path:
    """Path of the shipped MAST model (``gazevos/checkpoints/mast.pt``).

    Raises:
        GazevosError: the package ships no MAST model.
    """
    return ckpt.shipped_checkpoint("mast.pt", "MAST", "gazevos train mast")
