"""U^2-Netp salient-object network (Qin et al., Pattern Recognition 2020), in plain torch.

Written from the paper's description of the small variant: six encoder stages of residual
U-blocks (RSU-7, -6, -5, -4, and two dilated RSU-4F), five decoder stages, a 3x3 side
output per decoder stage and a 1x1 fusion of the six.  Every RSU block has 16 inner and 64
outer channels.  The only weights of it that exist here are an ONNX export
(``u2netp.onnx``, batch norm folded into the convolutions), so every ``conv + BN + ReLU``
unit is a biased convolution followed by ReLU; :func:`read_u2netp_onnx` maps the export's
convolutions onto this module (strict: count and every shape).

The network is used as a pretrained encoder for RANet
(:mod:`gazevos.models.ranet.u2net_encoder`); the full saliency net is here so that the
import can be checked against the ONNX model's own output.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gazevos.errors import GazevosError


class ConvReLU(nn.Sequential):
    """3x3 convolution (dilation ``d``, bias: batch norm folded in) -> ReLU."""

    def __init__(self, cin: int, cout: int, d: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=d, dilation=d), nn.ReLU(inplace=True))


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pool, stride 2, ceil mode (an odd side's last row/column pools alone).

    Equal to ``F.max_pool2d(x, 2, 2, ceil_mode=True)``, computed as the elementwise
    maximum of the four strided sub-grids: on CPU that is several times faster than
    the pooling kernel, which also computes argmax indices (``bench/ranet_profile.py``).

    Shapes: ``(B, C, H, W) -> (B, C, ceil(H / 2), ceil(W / 2))``.
    """
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), value=float("-inf"))
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


def _up_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` to ``ref``'s spatial size (half-pixel centres)."""
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of ``height`` levels (RSU-L).

    ``height - 1`` convolutions on a max-pooled pyramid (2x2, ceil mode), one dilated (2)
    convolution at the bottom, a decoder of ``height - 1`` convolutions on concatenated
    skips, plus the input convolution as residual.  With ``dilated=True`` (RSU-4F) there is
    no pooling: the levels use dilations 1, 2, 4, 8 instead.

    Shapes: ``(B, cin, H, W) -> (B, cout, H, W)``.
    """

    def __init__(self, height: int, cin: int, mid: int, cout: int,
                 dilated: bool = False) -> None:
        super().__init__()
        self.dilated = dilated
        dil = [2 ** i for i in range(height)] if dilated else [1] * (height - 1) + [2]
        self.conv_in = ConvReLU(cin, cout)
        self.enc = nn.ModuleList([ConvReLU(cout if i == 0 else mid, mid, dil[i])
                                  for i in range(height)])
        self.dec = nn.ModuleList([ConvReLU(2 * mid, cout if i == 0 else mid, dil[i])
                                  for i in range(height - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hin = self.conv_in(x)
        skips = []
        h = hin
        for i, conv in enumerate(self.enc):
            if i > 0 and not self.dilated and i < len(self.enc) - 1:
                h = max_pool2x2(h)
            h = conv(h)
            skips.append(h)
        # decoder: from the second-deepest level up to the first
        h = skips[-1]
        for i in range(len(self.dec) - 1, -1, -1):
            h = self.dec[i](torch.cat([_up_like(h, skips[i]), skips[i]], 1))
        return h + hin

    def convs(self) -> list[nn.Conv2d]:
        """The convolutions in the order the forward pass runs them."""
        mods = [self.conv_in, *self.enc, *reversed(self.dec)]
        return [m[0] for m in mods]


def run_stages(stages: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    """Encoder stages with a 2x2 max pool (ceil mode) before each but the first.

    Shapes: ``(B, C, H, W)`` -> one map per stage, ``(B, 64, ceil(H / 2**i), ...)``.
    """
    feats: list[torch.Tensor] = []
    h = x
    for i, stage in enumerate(stages):
        if i > 0:
            h = max_pool2x2(h)
        h = stage(h)
        feats.append(h)
    return feats


class U2Netp(nn.Module):
    """U^2-Netp: ``(B, 3, H, W)`` ImageNet-normalised RGB -> saliency logits ``(B, 1, H, W)``.

    :meth:`encode` gives the encoder maps only (stages 1-6, strides 1, 2, ..., 32, 64
    channels each).
    """

    def __init__(self, mid: int = 16, width: int = 64) -> None:
        super().__init__()
        heights = (7, 6, 5, 4, 4, 4)
        self.stages = nn.ModuleList([
            RSU(h, 3 if i == 0 else width, mid, width, dilated=i >= 4)
            for i, h in enumerate(heights)])
        self.dec_stages = nn.ModuleList([
            RSU(h, 2 * width, mid, width, dilated=i == 4)
            for i, h in enumerate(heights[:5])])  # index i: decoder of encoder stage i
        self.sides = nn.ModuleList([nn.Conv2d(width, 1, 3, padding=1) for _ in range(6)])
        self.fuse = nn.Conv2d(6, 1, 1)

    def encode(self, x: torch.Tensor, depth: int = 6) -> list[torch.Tensor]:
        """The first ``depth`` encoder maps, ``(B, 64, H / 2**i, W / 2**i)`` for stage i."""
        return run_stages(self.stages[:depth], x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc = self.encode(x)
        h = enc[-1]
        dec: list[torch.Tensor] = [h]
        for i in range(4, -1, -1):
            h = self.dec_stages[i](torch.cat([_up_like(h, enc[i]), enc[i]], 1))
            dec.append(h)
        dec = dec[::-1]  # dec[i]: decoder output at stage i's resolution (dec[5] = stage 6)
        sides = [_up_like(self.sides[i](dec[i]), x) for i in range(6)]
        return self.fuse(torch.cat(sides, 1))

    def convs(self) -> list[nn.Conv2d]:
        """Every convolution in the order the forward pass runs it."""
        out: list[nn.Conv2d] = []
        for stage in self.stages:
            out += stage.convs()
        for i in range(4, -1, -1):
            out += self.dec_stages[i].convs()
        return [*out, *self.sides, self.fuse]


def read_u2netp_onnx(path: str | Path) -> dict[str, torch.Tensor]:
    """State dict of :class:`U2Netp` from the ONNX export (``u2netp.onnx``).

    The export's convolutions are taken in graph order (the order the original forward
    pass ran them) and assigned to :meth:`U2Netp.convs`; their number and every weight and
    bias shape must match.  Needs the ``onnx`` package (``pip install onnx``).

    Raises:
        GazevosError: ``onnx`` missing, unreadable file, or a layout that is not U^2-Netp.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise GazevosError("reading an ONNX file needs the onnx package "
                           "(pip install onnx)", path) from exc
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # noqa: BLE001 - any parse error is a bad file
        raise GazevosError(f"not a readable ONNX model ({exc.__class__.__name__})",
                           path) from exc
    inits = {t.name: t for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    model = U2Netp()
    mine = model.convs()
    if len(convs) != len(mine):
        raise GazevosError(f"not a U2-Netp export: {len(convs)} convolutions, expected "
                           f"{len(mine)}", path)
    names = {id(m): n for n, m in model.named_modules()}
    state: dict[str, torch.Tensor] = {}
    for k, (node, conv) in enumerate(zip(convs, mine, strict=True)):
        if len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise GazevosError(f"convolution {k} of the export has no constant weight and "
                               "bias", path)
        w = torch.from_numpy(numpy_helper.to_array(inits[node.input[1]]).copy())
        b = torch.from_numpy(numpy_helper.to_array(inits[node.input[2]]).copy())
        if w.shape != conv.weight.shape or b.shape != conv.bias.shape:
            raise GazevosError(f"convolution {k}: shape {tuple(w.shape)} in the export, "
                               f"expected {tuple(conv.weight.shape)}", path)
        name = names[id(conv)]
        state[f"{name}.weight"] = w.float()
        state[f"{name}.bias"] = b.float()
    return state
