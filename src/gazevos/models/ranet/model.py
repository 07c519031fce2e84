"""RANet (Wang et al., ICCV 2019) with the thesis's RAM modifications (chapter 3).

Architecture (module names follow the public release so its weights load by name):

* ``base_model``: instance-norm ResNet (:class:`ResNetIN`), five maps f0..f4 (stride 2..32);
  or, with ``encoder="mast"``, the MAST encoder plus three strided blocks
  (:class:`~gazevos.models.ranet.mast_encoder.MastBackbone`); or, with
  ``encoder="u2netp"``, U^2-Netp's first five stages on the halved input
  (:class:`~gazevos.models.ranet.u2net_encoder.U2NetpBackbone`);
* ``L3``/``L4``/``L5``/``L_g``: per-pixel embedding at stride 16 from f2 (max-pooled),
  f3 and f4 (upsampled), L2-normalised, ``feature_dim`` channels;
* RAM (:mod:`gazevos.models.ranet.ram`): template features average-pooled to
  ``template_grid``; ``Ranking`` maps the target-side max-pooled correlations of each
  template pixel to a score; ``num_ranked`` fg and bg maps are kept;
* ``p_1``/``res_1``/``p_2``: merge net shared by the fg and bg maps (after x2 upsampling);
* decoder ``R1``/``R2``/``R3`` with skip projections ``ls*``: takes the merged maps, the
  previous mask M(t-1) and encoder features, and outputs one logit map at input size.

``decoder_scale`` multiplies every decoder width (1.0 = the release).  Inputs must have
sides divisible by 32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gazevos.models.norm import InstanceNorm2d
from gazevos.models.ranet.encoder import ResNetIN
from gazevos.models.ranet.mast_encoder import MastBackbone
from gazevos.models.ranet.ram import correlate, discriminant_score, nms_boost, select_ranked
from gazevos.models.ranet.u2net_encoder import U2NetpBackbone


@dataclass(frozen=True)
class RANetConfig:
    """RANet architecture and RAM behaviour.

    Attributes:
        encoder: ``resnet`` (instance-norm ResNet, the release) or ``mast`` (the MAST
            encoder for strides 2 and 4, then instance-norm blocks of widths
            ``widths[1:]`` for strides 8-32; can start from a MAST checkpoint) or
            ``u2netp`` (U^2-Netp stages 1-5 on the halved input, 64 channels at every
            stride; can start from the salient-object net's weights).
        block, stem, widths, depths: the instance-norm ResNet encoder.
        mast_widths, mast_depths, mast_dim: the MAST encoder (``encoder="mast"``).
        feature_dim: per-pixel embedding size (release: 512).
        template_grid: ``(th, tw)`` the template features are pooled to (release 15x27
            for 480x864 inputs).
        num_ranked: fg (and bg) maps kept by the RAM (release: 256).
        decoder_scale: width multiplier of merge net and decoder (release: 1.0).
        ranking_width: hidden width of the ranking net (release: 128).
        rank_scale: weight of the learned ranking score R (release: 0.2).
        rank_gate: multiply kept maps by ``1 + R`` so that R gets a gradient (the
            release only sorts with R; off for the release layout).
        discriminant: add the discriminant score (thesis) with ``discriminant_weight``
            over the top ``discriminant_k`` template correlations.
        nms: boost local maxima of the score (thesis) in ``nms_window`` neighbourhoods.
    """

    encoder: str = "resnet"
    block: str = "basic"
    stem: int = 16
    widths: tuple[int, ...] = (16, 32, 64, 128)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    feature_dim: int = 64
    template_grid: tuple[int, ...] = (8, 14)
    num_ranked: int = 64
    decoder_scale: float = 0.25
    ranking_width: int = 32
    rank_scale: float = 0.2
    rank_gate: bool = True
    discriminant: bool = False
    discriminant_weight: float = 0.5
    discriminant_k: int = 8
    nms: bool = False
    nms_window: int = 3
    nms_boost: float = 100.0
    mast_widths: tuple[int, ...] = (32, 64, 64)
    mast_depths: tuple[int, ...] = (1, 1, 1)
    mast_dim: int = 64


#: The layout of the released ResNet-101 RANet (``RANet_video_*.pth``).
OFFICIAL_CONFIG = RANetConfig(block="bottleneck", stem=64, widths=(64, 128, 256, 512),
                              depths=(3, 4, 23, 3), feature_dim=512, template_grid=(15, 27),
                              num_ranked=256, decoder_scale=1.0, ranking_width=128,
                              rank_gate=False)


def norm_relu_conv(cin: int, cout: int, ksize: int = 3, up: int = 1) -> nn.Sequential:
    """InstanceNorm (no affine) -> ReLU -> conv (-> bilinear x``up``); keys ``.2.*``."""
    # in place: the norm's output is a fresh tensor (and its backward needs only its input)
    layers: list[nn.Module] = [InstanceNorm2d(cin), nn.ReLU(inplace=True),
                               nn.Conv2d(cin, cout, ksize, padding=(ksize - 1) // 2)]
    if up != 1:
        layers.append(nn.Upsample(scale_factor=up, mode="bilinear", align_corners=True))
    return nn.Sequential(*layers)


class ResBlock2(nn.Module):
    """Bottleneck residual block with (non-affine) instance norm; keeps ``cin`` channels."""

    def __init__(self, cin: int, planes: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = InstanceNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = InstanceNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cin, 1, bias=False)
        self.bn3 = InstanceNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + x)


class MSBlock(nn.Module):
    """Sum of three dilated 3x3 convolutions (dilations 1, 3, 6)."""

    def __init__(self, cin: int, cout: int, dil: tuple[int, int, int] = (1, 3, 6)) -> None:
        super().__init__()
        self.l1 = nn.Conv2d(cin, cout, 3, padding=dil[0], dilation=dil[0], bias=False)
        self.l2 = nn.Conv2d(cin, cout, 3, padding=dil[1], dilation=dil[1], bias=False)
        self.l3 = nn.Conv2d(cin, cout, 3, padding=dil[2], dilation=dil[2], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x) + self.l2(x) + self.l3(x)


def _up() -> nn.Module:
    """Bilinear x2 upsampling (align_corners, as the release)."""
    return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)


class RANet(nn.Module):
    """RANet for one object per pass.

    Use :meth:`embed` once per frame, :meth:`template` once per given mask, then
    :meth:`segment` (or :meth:`forward` for a whole pair during training).
    """

    def __init__(self, config: RANetConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or RANetConfig()
        self.base_model: ResNetIN | MastBackbone | U2NetpBackbone
        if cfg.encoder == "resnet":
            self.base_model = ResNetIN(cfg.block, cfg.stem, cfg.widths, cfg.depths)
        elif cfg.encoder == "mast":
            self.base_model = MastBackbone(cfg.mast_widths, cfg.mast_depths, cfg.mast_dim,
                                           cfg.widths[1:])
        elif cfg.encoder == "u2netp":
            self.base_model = U2NetpBackbone()
        else:
            raise ValueError(f"encoder must be resnet, mast or u2netp, got {cfg.encoder!r}")
        c0, c1, c2, c3, c4 = self.base_model.channels
        fd = cfg.feature_dim

        def c(n: int) -> int:
            return max(2, int(round(n * cfg.decoder_scale)))

        self.L3 = norm_relu_conv(c2, fd // 4)
        self.L4 = norm_relu_conv(c3, fd // 2)
        self.L5 = norm_relu_conv(c4, fd)
        self.L_g = norm_relu_conv(fd // 4 + fd // 2 + fd, fd)
        p = cfg.template_grid[0] * cfg.template_grid[1]
        rw = cfg.ranking_width
        self.Ranking = nn.Sequential(norm_relu_conv(p, rw), ResBlock2(rw, max(1, rw // 4), 2),
                                     norm_relu_conv(rw, 1))
        self.p_1 = norm_relu_conv(cfg.num_ranked, c(256))
        self.res_1 = ResBlock2(c(256), c(128), 1)
        self.p_2 = norm_relu_conv(c(256), c(128))
        self.ls13 = norm_relu_conv(c2, c(32), ksize=1)
        self.ls14 = norm_relu_conv(c3, c(16), ksize=1, up=2)
        self.ls15 = norm_relu_conv(c4, c(16), ksize=1, up=4)
        self.ls22 = norm_relu_conv(c1, c(32), ksize=1)
        self.ls23 = norm_relu_conv(c2, c(16), ksize=1, up=2)
        self.ls24 = norm_relu_conv(c3, c(16), ksize=1, up=4)
        self.ls31 = norm_relu_conv(c0, c(32), ksize=1)
        self.ls32 = norm_relu_conv(c1, c(16), ksize=1, up=2)
        self.ls33 = norm_relu_conv(c2, c(16), ksize=1, up=4)
        skip = c(32) + 2 * c(16)
        self.R1 = nn.Sequential(norm_relu_conv(skip + 2 * c(128) + 1, c(256)),
                                norm_relu_conv(c(256), c(256)), MSBlock(c(256), c(128)),
                                ResBlock2(c(128), c(64)), _up())
        self.R2 = nn.Sequential(norm_relu_conv(skip + c(128), c(128)),
                                norm_relu_conv(c(128), c(64)), MSBlock(c(64), c(32)),
                                ResBlock2(c(32), c(16)), _up())
        self.R3 = nn.Sequential(norm_relu_conv(skip + c(32), c(64)),
                                norm_relu_conv(c(64), c(32)), MSBlock(c(32), c(16)),
                                _up(), ResBlock2(c(16), c(8)),
                                nn.Conv2d(c(16), 1, 3, padding=1))

    # -- features -------------------------------------------------------------------------
    def embed(self, image: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Encoder maps and the L2-normalised stride-16 embedding.

        Args:
            image: ``(B, 3, H, W)`` normalised RGB (see :func:`normalise_image`), sides
                divisible by 32.

        Returns:
            ``(feats, emb)``: five maps (strides 2..32) and ``(B, D, H/16, W/16)``.
        """
        h, w = image.shape[-2:]
        if h % 32 or w % 32:
            raise ValueError(f"RANet input sides must be divisible by 32, got {h}x{w}")
        feats = self.base_model(image)
        f3 = feats[3]
        a = F.normalize(F.max_pool2d(self.L3(feats[2]), 2))
        b = F.normalize(self.L4(f3))
        c = F.normalize(F.interpolate(self.L5(feats[4]), size=f3.shape[-2:], mode="bilinear",
                                      align_corners=False))
        return feats, F.normalize(self.L_g(torch.cat([a, b, c], 1)))

    def template(self, emb: torch.Tensor, mask: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Template kernel and pooled mask.

        Args:
            emb: ``(B, D, h, w)`` template-frame embedding.
            mask: ``(B, 1, H, W)`` template mask of one object in [0, 1].

        Returns:
            ``kernel (B, D, th, tw)`` and ``m (B, 1, th, tw)`` (fraction of object).
        """
        grid = tuple(self.config.template_grid)
        return (F.adaptive_avg_pool2d(emb, grid),
                F.adaptive_avg_pool2d(mask.to(emb.dtype), grid))

    # -- RAM ------------------------------------------------------------------------------
    def rank(self, kernel: torch.Tensor, m: torch.Tensor, emb: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ranked fg and bg similarity maps, each ``(B, num_ranked, h, w)``.

        Args:
            kernel: ``(B, D, th', tw')`` template features; ``th'`` may be a multiple of
                the configured grid's ``th`` (several templates stacked vertically, each
                pooled to ``template_grid``: every one of their pixels is a candidate).
            m: ``(B, 1, th', tw')`` object fraction of each template pixel.
            emb: ``(B, D, h, w)`` target embedding.
        """
        cfg = self.config
        b = emb.shape[0]
        grid = tuple(cfg.template_grid)  # the target is pooled to this (ranking input)
        layout = tuple(kernel.shape[-2:])  # the template pixels' arrangement
        corr = correlate(kernel, emb)  # (B, P, h, w)
        mw = m.reshape(b, -1)
        fg = mw > 0
        bg = (1.0 - mw) >= 0.9
        disc = None
        if cfg.discriminant:
            disc = discriminant_score(kernel.reshape(b, kernel.shape[1], -1), fg, bg,
                                      cfg.discriminant_k)
        out = []
        for weight, valid in ((mw, fg), (bg.to(mw.dtype), bg)):
            cw = corr * weight.view(b, -1, 1, 1)
            t = F.adaptive_max_pool2d(cw, grid)  # (B, P_templ, th, tw)
            t = t.reshape(b, t.shape[1], -1).transpose(1, 2).reshape(b, -1, *layout)
            r = F.relu(self.Ranking(t)).reshape(b, -1) * valid.to(t.dtype) * cfg.rank_scale
            score = cw.flatten(2).amax(2) + r
            if disc is not None:
                score = score + cfg.discriminant_weight * disc
            if cfg.nms:
                score = nms_boost(score, valid, layout, cfg.nms_window, cfg.nms_boost)
            maps, idx = select_ranked(cw, score.detach(), valid, cfg.num_ranked)
            if cfg.rank_gate:
                rs = r.gather(1, idx.clamp(min=0)) * (idx >= 0).to(r.dtype)
                maps = maps * (1.0 + rs).view(b, -1, 1, 1)
            out.append(maps)
        return out[0], out[1]

    # -- decoder --------------------------------------------------------------------------
    def merge(self, maps: torch.Tensor) -> torch.Tensor:
        """Merge net on ranked maps: ``(B, K, h, w) -> (B, c128, 2h, 2w)``."""
        up = F.interpolate(maps, scale_factor=2, mode="bilinear", align_corners=False)
        return self.p_2(self.res_1(self.p_1(up)))

    def decode(self, feats: list[torch.Tensor], fg: torch.Tensor, bg: torch.Tensor,
               prev: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 1, H, W)`` from encoder maps, merged fg/bg maps and M(t-1)
        (``prev (B, 1, H, W)`` in [0, 1])."""
        f0, f1, f2, f3, f4 = feats
        mf, mb = self.merge(fg), self.merge(bg)
        mp = F.adaptive_avg_pool2d(prev.to(mf.dtype), mf.shape[-2:])
        x = self.R1(torch.cat([self.ls13(f2), self.ls14(f3), self.ls15(f4), mf, mb, mp], 1))
        x = self.R2(torch.cat([self.ls22(f1), self.ls23(f2), self.ls24(f3), x], 1))
        return self.R3(torch.cat([self.ls31(f0), self.ls32(f1), self.ls33(f2), x], 1))

    def segment(self, feats: list[torch.Tensor], emb: torch.Tensor, kernel: torch.Tensor,
                m: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 1, H, W)`` of the target frame (given its :meth:`embed` output)."""
        fg, bg = self.rank(kernel, m, emb)
        return self.decode(feats, fg, bg, prev)

    def param_groups(self, lr: float, encoder_scale: float = 1.0) -> list[dict]:
        """Optimiser parameter groups: one group at ``lr``, or the encoder
        (``base_model``) at ``lr * encoder_scale`` and the rest at ``lr``.

        ``encoder_scale == 0`` freezes the encoder: its parameters get
        ``requires_grad=False`` (so backward stops at its output) and are left out.
        """
        if encoder_scale == 1.0:
            return [{"params": list(self.parameters()), "lr": lr}]
        enc = list(self.base_model.parameters())
        ids = {id(p) for p in enc}
        groups = [{"params": [p for p in self.parameters() if id(p) not in ids], "lr": lr}]
        if encoder_scale == 0.0:
            for p in enc:
                p.requires_grad_(False)
        else:
            groups.insert(0, {"params": enc, "lr": lr * encoder_scale})
        return groups

    def forward(self, template_img: torch.Tensor, template_mask: torch.Tensor,
                target_img: torch.Tensor, prev_mask: torch.Tensor) -> torch.Tensor:
        """Training pass on image pairs: all ``(B, C, H, W)``; returns logits ``(B, 1, H, W)``."""
        _, temb = self.embed(template_img)
        kernel, m = self.template(temb, template_mask)
        feats, emb = self.embed(target_img)
        return self.segment(feats, emb, kernel, m, prev_mask)


_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def normalise_image(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` uint8 RGB -> ImageNet-normalised float32."""
    x = image.float() / 255.0
    mean = torch.tensor(_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std
