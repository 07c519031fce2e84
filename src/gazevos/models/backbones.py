"""Plain-torch ResNet building blocks and a slim stride-4 encoder (no pretrained weights).

The blocks follow He et al. (2016): a :class:`BasicBlock` is two 3x3 convolutions with
batch normalisation and an identity (or 1x1 projection) shortcut.  :class:`ResNetEncoder`
stacks a stride-2 stem and one stage per entry of ``widths``; the first two stages halve
the resolution, so the output is at 1/4 of the input (the resolution MAST and CorrFlow
match pixels at).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a batch norm follows)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """ResNet basic block: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        stride: stride of the first convolution (and of the projection shortcut).

    Shapes: ``(B, in_ch, H, W) -> (B, out_ch, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch, stride)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def make_stage(in_ch: int, out_ch: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` basic blocks; the first changes width and applies ``stride``."""
    layers = [BasicBlock(in_ch, out_ch, stride)]
    layers += [BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetEncoder(nn.Module):
    """A slim ResNet that returns features at 1/4 of the input resolution.

    Stem: 3x3 convolution, stride 2, to ``widths[0]`` channels.  Stage ``i`` has
    ``depths[i]`` basic blocks of width ``widths[i]``; stage 1 has stride 2, all other
    stages stride 1 (so the total stride is 4).  A 1x1 convolution projects to
    ``out_channels``.

    Args:
        in_channels: input channels (3 for LAB).
        widths: channels per stage (at least 2 stages).
        depths: blocks per stage, same length as ``widths``.
        out_channels: output feature dimension.

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, h, w)`` with
    ``h = ceil(ceil(H / 2) / 2)`` and likewise ``w``.
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (32, 64, 64),
                 depths: Sequence[int] = (1, 1, 1), out_channels: int = 64) -> None:
        super().__init__()
        if len(widths) != len(depths) or len(widths) < 2:
            raise ValueError("widths and depths need the same length, at least 2")
        self.stem = nn.Sequential(conv3x3(in_channels, widths[0], stride=2),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        stages = []
        prev = widths[0]
        for i, (w, d) in enumerate(zip(widths, depths, strict=True)):
            stages.append(make_stage(prev, w, d, stride=2 if i == 1 else 1))
            prev = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Conv2d(prev, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))
