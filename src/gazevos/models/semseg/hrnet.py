"""HRNetV2 for semantic segmentation (Wang et al. 2020; thesis section 2.1), plain torch.

The network keeps a high-resolution branch through the whole depth and adds one
lower-resolution branch (half the size) per stage:

* stem: two 3x3 stride-2 convolutions (1/4 resolution), then stage 1 (one branch of
  bottleneck or basic blocks);
* stages 2-4: 2, 3, 4 parallel branches; a stage is a sequence of *modules*, each running
  residual blocks on every branch and then an *exchange unit* (``fuse_layers``) that feeds
  every output branch the sum of all input branches: lower resolutions are brought up by a
  1x1 convolution + batch norm and bilinear up-sampling, higher resolutions down by chains
  of 3x3 stride-2 convolutions;
* *transitions* between stages adapt channels (3x3 conv) and create the new branch
  (3x3 stride-2 conv from the lowest-resolution branch);
* head (HRNetV2): all branches up-sampled to 1/4 and concatenated, then 1x1 conv + batch
  norm + ReLU and a final classifier convolution (``last_layer``).

Module names follow the public HRNet semantic segmentation release (``conv1``,
``layer1``, ``transition1``, ``stage2.0.branches.0.0.conv1``, ``stage2.0.fuse_layers.1.0``,
``last_layer.3``...), so its checkpoints load with strict key checks (see
:mod:`gazevos.models.semseg.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: batch-norm momentum of the official models
BN_MOMENTUM = 0.01


@dataclass(frozen=True)
class StageConfig:
    """One HRNet stage.

    Attributes:
        modules: number of high-resolution modules (each ends with an exchange unit).
        block: ``basic`` (two 3x3 convs) or ``bottleneck`` (1x1, 3x3, 1x1, 4x expansion).
        blocks: residual blocks per branch (one entry per branch).
        channels: block width per branch (output channels are 4x this for bottlenecks).
    """

    modules: int = 1
    block: str = "basic"
    blocks: tuple[int, ...] = (1,)
    channels: tuple[int, ...] = (32,)


@dataclass(frozen=True)
class HRNetConfig:
    """Architecture of an HRNetV2 segmentation network.

    The default is a small CPU model (about 0.5 M parameters).  Official configurations:
    :data:`ARCHITECTURES` (``w48``, ``w18-small-v1``, ``w18-small-v2``; also
    ``small`` = this default and ``tiny`` for tests).

    Attributes:
        stem_channels: width of the two stem convolutions (64 in every official model).
        stage1 .. stage4: the stages (1, 2, 3 and 4 branches).
        num_classes: output classes.
        final_kernel: kernel size of the classifier convolution (1 or 3).
    """

    stem_channels: int = 32
    stage1: StageConfig = StageConfig(1, "bottleneck", (1,), (16,))
    stage2: StageConfig = StageConfig(1, "basic", (1, 1), (16, 32))
    stage3: StageConfig = StageConfig(1, "basic", (1, 1, 1), (16, 32, 64))
    stage4: StageConfig = StageConfig(1, "basic", (1, 1, 1, 1), (16, 32, 64, 128))
    num_classes: int = 19
    final_kernel: int = 1


def _official(stage1: tuple[int, int], stages: Sequence[tuple[int, int, int]],
              classes: int = 19) -> HRNetConfig:
    """Official config from (stage-1 blocks, width) and (modules, blocks, base width)."""
    s = []
    for n, (modules, blocks, width) in enumerate(stages, start=2):
        s.append(StageConfig(modules, "basic", (blocks,) * n,
                             tuple(width * 2 ** i for i in range(n))))
    return HRNetConfig(64, StageConfig(1, "bottleneck", (stage1[0],), (stage1[1],)),
                       s[0], s[1], s[2], classes, 1)


#: the official Cityscapes models (experiments/cityscapes/*.yaml of the HRNet release)
ARCHITECTURES: dict[str, HRNetConfig] = {
    "w48": _official((4, 64), [(1, 4, 48), (4, 4, 48), (3, 4, 48)]),
    "w18-small-v1": _official((1, 32), [(1, 2, 16), (1, 2, 16), (1, 2, 16)]),
    "w18-small-v2": _official((2, 64), [(1, 2, 18), (3, 2, 18), (2, 2, 18)]),
    "small": HRNetConfig(),
    # a few thousand parameters: tests and smoke runs only
    "tiny": HRNetConfig(8, StageConfig(1, "bottleneck", (1,), (4,)),
                        StageConfig(1, "basic", (1, 1), (4, 8)),
                        StageConfig(1, "basic", (1, 1, 1), (4, 8, 16)),
                        StageConfig(1, "basic", (1, 1, 1, 1), (4, 8, 16, 32))),
}


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, momentum=BN_MOMENTUM)


def _conv_bn(cin: int, cout: int, k: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), _bn(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN with a residual (1x1 conv + BN ``downsample`` if widths differ).

    Shapes: ``(B, cin, H, W) -> (B, width, H, W)``.
    """

    expansion = 1

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, 1, 1, bias=False)
        self.bn1 = _bn(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = _bn(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _conv_bn(cin, width, 1, 1, False) if cin != width else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + skip)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (4x width) convolutions with BN and a residual.

    Shapes: ``(B, cin, H, W) -> (B, 4 * width, H, W)``.
    """

    expansion = 4

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        out = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = _bn(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = _bn(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = _bn(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _conv_bn(cin, out, 1, 1, False) if cin != out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + skip)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {
    "basic": BasicBlock, "bottleneck": Bottleneck}


def _block_type(name: str) -> type[BasicBlock] | type[Bottleneck]:
    if name not in BLOCKS:
        raise ValueError(f"unknown block '{name}' (basic or bottleneck)")
    return BLOCKS[name]


def residual_stack(block: str, cin: int, width: int, n: int) -> nn.Sequential:
    """``n`` residual blocks; the first maps ``cin`` to the block's output width."""
    cls = _block_type(block)
    layers = [cls(cin, width)]
    layers += [cls(width * cls.expansion, width) for _ in range(n - 1)]
    return nn.Sequential(*layers)


def upsample_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of ``(B, C, h, w)`` to ``size`` (align_corners False, as official)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class ExchangeUnit(nn.ModuleList):
    """Fuse parallel branches: output ``i`` = ReLU(sum over inputs ``j`` of f_ij(x_j)).

    ``f_ii`` is the identity; for ``j > i`` (lower resolution) a 1x1 conv + BN to the
    channels of ``i`` followed by bilinear up-sampling to ``x_i``'s size; for ``j < i``
    ``i - j`` stride-2 3x3 conv + BN (ReLU between them, channels of ``j`` until the last).

    Args:
        channels: channels of each branch, highest resolution first.
        outputs: how many output branches (all by default).

    Shapes: list of ``(B, channels[k], H / 2**k, W / 2**k)`` -> the first ``outputs`` of them.

    It is a list of rows (``unit[i][j]`` is f_ij), so its weights are keyed ``i.j.*`` as in
    the official ``fuse_layers``.
    """

    def __init__(self, channels: Sequence[int], outputs: int | None = None) -> None:
        n = len(channels)
        rows = []
        for i in range(n if outputs is None else outputs):
            row: list[nn.Module] = []
            for j in range(n):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:
                    row.append(_conv_bn(channels[j], channels[i], 1, 1, False))
                else:
                    steps = [_conv_bn(channels[j], channels[j], 3, 2, True)
                             for _ in range(i - j - 1)]
                    steps.append(_conv_bn(channels[j], channels[i], 3, 2, False))
                    row.append(nn.Sequential(*steps))
            rows.append(nn.ModuleList(row))
        super().__init__(rows)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for i, row in enumerate(self):
            size = xs[i].shape[-2:]
            y = xs[i]
            for j, f in enumerate(row):
                if j == i:
                    continue
                z = f(xs[j])
                y = y + (upsample_to(z, size) if j > i else z)
            out.append(F.relu(y))
        return out


class HighResolutionModule(nn.Module):
    """Residual blocks on each branch, then an :class:`ExchangeUnit` (``fuse_layers``).

    Args:
        stage: block type, blocks and widths per branch.
        in_channels: input channels per branch.
    """

    def __init__(self, stage: StageConfig, in_channels: Sequence[int]) -> None:
        super().__init__()
        cls = _block_type(stage.block)
        self.out_channels = [c * cls.expansion for c in stage.channels]
        self.branches = nn.ModuleList(
            residual_stack(stage.block, cin, w, n)
            for cin, w, n in zip(in_channels, stage.channels, stage.blocks, strict=True))
        self.fuse_layers = (ExchangeUnit(self.out_channels) if len(self.out_channels) > 1
                            else None)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [b(x) for b, x in zip(self.branches, xs, strict=True)]
        return xs if self.fuse_layers is None else self.fuse_layers(xs)


def transition(prev: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
    """Between stages: 3x3 conv where widths change (identity otherwise); each new branch
    from the previous lowest-resolution one by stride-2 3x3 convs (ReLU after each)."""
    layers: list[nn.Module] = []
    for i, c in enumerate(cur):
        if i < len(prev):
            layers.append(_conv_bn(prev[i], c, 3, 1, True) if prev[i] != c else nn.Identity())
        else:
            extra = i + 1 - len(prev)
            steps = [_conv_bn(prev[-1], c if k == extra - 1 else prev[-1], 3, 2, True)
                     for k in range(extra)]
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """HRNetV2 segmentation network.

    Args:
        config: architecture (see :class:`HRNetConfig`).

    Shapes:
        ``forward``: ``(B, 3, H, W)`` normalised RGB -> logits ``(B, num_classes, h, w)``
        with ``h = ceil(ceil(H / 2) / 2)`` (1/4 resolution), likewise ``w``.
        ``features``: the concatenated head input ``(B, feature_channels, h, w)``.
    """

    def __init__(self, config: HRNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or HRNetConfig()
        stem = cfg.stem_channels
        self.conv1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = _bn(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, 2, 1, bias=False)
        self.bn2 = _bn(stem)
        self.relu = nn.ReLU(inplace=True)
        s1 = cfg.stage1
        if len(s1.channels) != 1 or len(s1.blocks) != 1 or s1.modules != 1:
            raise ValueError("stage 1 has exactly one branch and one module")
        self.layer1 = residual_stack(s1.block, stem, s1.channels[0], s1.blocks[0])
        prev = [s1.channels[0] * _block_type(s1.block).expansion]
        for n, stage in enumerate((cfg.stage2, cfg.stage3, cfg.stage4), start=2):
            if not len(stage.channels) == len(stage.blocks) == n:
                raise ValueError(f"stage {n} needs {n} branches (channels and blocks)")
            cur = [c * _block_type(stage.block).expansion for c in stage.channels]
            setattr(self, f"transition{n - 1}", transition(prev, cur))
            mods = []
            chans = cur
            for _ in range(stage.modules):
                mods.append(HighResolutionModule(stage, chans))
                chans = mods[-1].out_channels
            setattr(self, f"stage{n}", nn.Sequential(*mods))
            prev = chans
        self.feature_channels = sum(prev)
        c = self.feature_channels
        k = cfg.final_kernel
        self.last_layer = nn.Sequential(
            nn.Conv2d(c, c, 1), _bn(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, cfg.num_classes, k, 1, k // 2))

    def _run_stage(self, n: int, ys: list[torch.Tensor]) -> list[torch.Tensor]:
        trans: nn.ModuleList = getattr(self, f"transition{n - 1}")
        xs = [t(ys[min(i, len(ys) - 1)]) for i, t in enumerate(trans)]
        for mod in getattr(self, f"stage{n}"):
            xs = mod(xs)
        return xs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The HRNetV2 representation: all branches at 1/4 resolution, concatenated."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for n in (2, 3, 4):
            ys = self._run_stage(n, ys)
        size = ys[0].shape[-2:]
        return torch.cat([ys[0]] + [upsample_to(y, size) for y in ys[1:]], dim=1)

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        """Head: features ``(B, feature_channels, h, w)`` -> logits ``(B, classes, h, w)``."""
        return self.last_layer(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))
