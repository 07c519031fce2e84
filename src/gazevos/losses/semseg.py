"""Losses of segmentation training with domain adaptation (thesis eq. 2.1, 2.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gazevos.models.semseg.classes import IGNORE_INDEX


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor,
                      weight: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel-wise cross-entropy, logits up-sampled to the label size, 255 ignored.

    Args:
        logits: ``(B, C, h, w)``.
        labels: ``(B, H, W)`` int64 class ids (255: ignore).
        weight: optional ``(C,)`` class weights (weighted mean over pixels).
    """
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear",
                               align_corners=False)
    return F.cross_entropy(logits, labels, weight=weight, ignore_index=IGNORE_INDEX)


def domain_loss(source_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """L_D of eq. 2.1: mean binary cross-entropy with source labelled 1, target 0.

    Args:
        source_logits: ``(Bs,)`` discriminator logits of source images.
        target_logits: ``(Bt,)`` discriminator logits of target images.
    """
    ls = F.binary_cross_entropy_with_logits(source_logits, torch.ones_like(source_logits))
    lt = F.binary_cross_entropy_with_logits(target_logits, torch.zeros_like(target_logits))
    return ls + lt


def dann_loss(cls_loss: torch.Tensor, d_loss: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq. 2.2: ``L = L_cls + lambda * L_D``."""
    return cls_loss + lam * d_loss
