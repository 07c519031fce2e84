"""RANet encoder built on the MAST encoder (so RANet can start from self-supervised features).

The MAST encoder (:class:`gazevos.models.backbones.ResNetEncoder`: batch norm, LAB input,
stride 4) gives the stride-2 stem output (RANet's f0) and the stride-4 feature map (f1,
``mast_dim`` channels).  Three new instance-norm basic blocks of stride 2
(:class:`BasicBlockIN`, widths ``widths[1:]`` of the RANet config) bring it to strides
8, 16 and 32 (f2..f4), which the correlation and the decoder skips need.

RANet feeds ImageNet-normalised RGB everywhere; :func:`imagenet_to_lab` converts it to the
normalised CIE L*a*b* that MAST was trained on (the same values as
:func:`gazevos.models.mast.rgb_to_lab`, computed in torch so it runs inside the model).
:func:`load_mast_encoder` copies the weights of a MAST checkpoint into the encoder,
strictly (every key, every shape).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from gazevos.errors import GazevosError
from gazevos.models.backbones import ResNetEncoder
from gazevos.models.ranet.encoder import BasicBlockIN, _inorm

if TYPE_CHECKING:
    from gazevos.models.ranet.model import RANet

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
# sRGB (linear) -> XYZ, rows divided by the D65 white point (as OpenCV's RGB2Lab)
_RGB2XYZ_D65 = ((0.412453 / 0.950456, 0.357580 / 0.950456, 0.180423 / 0.950456),
                (0.212671, 0.715160, 0.072169),
                (0.019334 / 1.088754, 0.119193 / 1.088754, 0.950227 / 1.088754))


def imagenet_to_lab(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised RGB -> MAST's normalised LAB.

    Args:
        x: ``(B, 3, H, W)`` ``(rgb - mean) / std`` with ``rgb`` in [0, 1].

    Returns:
        ``(B, 3, H, W)``: ``(L - 50) / 50``, ``a / 128``, ``b / 128`` (CIE L*a*b*, D65,
        sRGB gamma), as :func:`gazevos.models.mast.rgb_to_lab`.
    """
    mean = torch.tensor(_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    rgb = (x * std + mean).clamp(0.0, 1.0)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    mat = torch.tensor(_RGB2XYZ_D65, dtype=x.dtype, device=x.device)
    xyz = torch.einsum("ij,bjhw->bihw", mat, lin)
    eps = 216.0 / 24389.0
    f = torch.where(xyz > eps, xyz.clamp(min=eps) ** (1.0 / 3.0),
                    (24389.0 / 27.0 * xyz + 16.0) / 116.0)
    y = xyz[:, 1:2]
    lum = torch.where(y > eps, 116.0 * f[:, 1:2] - 16.0, 24389.0 / 27.0 * y)
    a = 500.0 * (f[:, 0:1] - f[:, 1:2])
    b = 200.0 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([(lum - 50.0) / 50.0, a / 128.0, b / 128.0], 1)


class MastBackbone(nn.Module):
    """The MAST encoder plus three strided instance-norm blocks.

    Args:
        mast_widths, mast_depths, mast_dim: the MAST encoder's architecture (must match a
            MAST checkpoint to load it; shipped MAST: (32, 64, 64), (1, 1, 1), 64).
        widths: channels of the stride-8, -16 and -32 maps.

    Shapes: ``(B, 3, H, W)`` ImageNet-normalised RGB (sides divisible by 32) -> five maps
    with strides 2, 4, 8, 16, 32 and channels ``(mast_widths[0], mast_dim, *widths)``.
    """

    def __init__(self, mast_widths: Sequence[int] = (32, 64, 64),
                 mast_depths: Sequence[int] = (1, 1, 1), mast_dim: int = 64,
                 widths: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"the MAST backbone needs 3 widths (strides 8, 16, 32), got {widths}")
        self.mast = ResNetEncoder(3, mast_widths, mast_depths, mast_dim)
        blocks = []
        cin = mast_dim
        for w in widths:
            down = nn.Sequential(nn.Conv2d(cin, w, 1, 2, bias=False), _inorm(w))
            blocks.append(BasicBlockIN(cin, w, 2, down))
            cin = w
        self.down = nn.ModuleList(blocks)
        self.channels = (int(mast_widths[0]), int(mast_dim), *(int(w) for w in widths))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        lab = imagenet_to_lab(x)
        f0 = self.mast.stem(lab)
        feats = [f0, self.mast.head(self.mast.stages(f0))]
        for block in self.down:
            feats.append(block(feats[-1]))
        return feats


def load_mast_encoder(model: RANet, path: str | Path) -> None:
    """Copy the encoder weights of a MAST checkpoint into ``model.base_model.mast``.

    Every MAST weight and buffer (batch-norm statistics included) must match a key and
    shape of the RANet's MAST encoder, and vice versa.

    Raises:
        GazevosError: the model has no MAST encoder, the file is not a MAST checkpoint,
            or keys / shapes differ.
    """
    from gazevos.models.checkpoint import checkpoint_weights, load_state_strict
    from gazevos.models.mast.model import read_checkpoint

    if not isinstance(model.base_model, MastBackbone):
        raise GazevosError("--init-encoder needs a RANet with 'encoder: mast' in its model "
                           "config", path)
    state = checkpoint_weights(read_checkpoint(path), path)
    prefix = "encoder."
    mapped = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
    load_state_strict(model.base_model.mast, mapped, str(path))
