"""Instance-normalised ResNet encoder of RANet (plain torch, no pretrained weights).

RANet replaces the batch norms of its ResNet-101 by affine instance norms (thesis 3.1).
The module names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1``..``layer4``,
``downsample.0/1``), so the released RANet weights (stored under ``base_model.``) load by
name.  The stem is a 7x7 stride-2 convolution and a stride-2 max pool; stages 2-4 halve
the resolution, so the five returned feature maps have strides 2, 4, 8, 16 and 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gazevos.models.norm import InstanceNorm2d


def _inorm(ch: int) -> nn.InstanceNorm2d:
    return InstanceNorm2d(ch, affine=True, track_running_stats=False)


class BasicBlockIN(nn.Module):
    """Two 3x3 convolutions with instance norm; ``(B, in, H, W) -> (B, planes, H/s, W/s)``."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = _inorm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = _inorm(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.downsample is None else self.downsample(x)
        return self.relu(out + short)


class BottleneckIN(nn.Module):
    """1x1 - 3x3 (stride) - 1x1 bottleneck with instance norm, output ``4 * planes``."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = _inorm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = _inorm(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = _inorm(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        short = x if self.downsample is None else self.downsample(x)
        return self.relu(out + short)


class ResNetIN(nn.Module):
    """ResNet with instance norm returning the stem and four stage outputs.

    Args:
        block: ``"basic"`` or ``"bottleneck"``.
        stem: channels of the 7x7 stem convolution.
        widths: ``planes`` of the four stages (output ``planes * expansion``).
        depths: blocks per stage (ResNet-101: 3, 4, 23, 3).

    Shapes: ``(B, 3, H, W)`` -> list of five maps with strides 2, 4, 8, 16, 32 and
    channels ``stem, *[w * expansion for w in widths]``.
    """

    def __init__(self, block: str = "basic", stem: int = 16,
                 widths: Sequence[int] = (16, 32, 64, 128),
                 depths: Sequence[int] = (1, 1, 1, 1)) -> None:
        super().__init__()
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"block must be basic or bottleneck, got {block!r}")
        if len(widths) != 4 or len(depths) != 4:
            raise ValueError("widths and depths need 4 entries")
        cls: type[BasicBlockIN] | type[BottleneckIN] = (
            BasicBlockIN if block == "basic" else BottleneckIN)
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = _inorm(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.inplanes = stem
        self.layer1 = self._make(cls, widths[0], depths[0], 1)
        self.layer2 = self._make(cls, widths[1], depths[1], 2)
        self.layer3 = self._make(cls, widths[2], depths[2], 2)
        self.layer4 = self._make(cls, widths[3], depths[3], 2)
        self.channels = (stem, *[w * cls.expansion for w in widths])

    def _make(self, cls: type[BasicBlockIN] | type[BottleneckIN], planes: int, blocks: int,
              stride: int) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * cls.expansion:
            down = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * cls.expansion, 1, stride, bias=False),
                _inorm(planes * cls.expansion))
        layers: list[nn.Module] = [cls(self.inplanes, planes, stride, down)]
        self.inplanes = planes * cls.expansion
        layers += [cls(self.inplanes, planes) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f0 = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(f0))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [f0, f1, f2, f3, f4]
