"""Self-supervised losses of MAST (regression) and CorrFlow (colour-cluster classification).

Both compare a reconstruction made at feature resolution (1/4) with a full-resolution
target: the prediction is bilinearly upsampled to the target's size first (thesis
section 4.2.1: better than downsampling the target).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def upsample_to(pred: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize ``(B, C, h, w)`` to ``(B, C, *size)`` (no-op when equal)."""
    if tuple(pred.shape[-2:]) == tuple(size):
        return pred
    return F.interpolate(pred, size=size, mode="bilinear", align_corners=False)


def huber_reconstruction_loss(pred: torch.Tensor, target: torch.Tensor,
                              delta: float = 0.1) -> torch.Tensor:
    """Huber loss of a reconstructed colour channel (MAST's regression loss).

    Args:
        pred: ``(B, C, h, w)`` reconstruction at feature resolution.
        target: ``(B, C, H, W)`` true values (the dropped LAB channel).
        delta: the Huber threshold (quadratic below, linear above).

    Returns:
        Scalar mean over pixels.
    """
    return F.huber_loss(upsample_to(pred, target.shape[-2:]), target, delta=delta)


def assign_clusters(lab: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Nearest colour cluster of every pixel (CorrFlow's pseudo-labels).

    Args:
        lab: ``(B, 3, H, W)`` colours.
        centres: ``(K, 3)`` cluster centres in the same space.

    Returns:
        ``(B, H, W)`` int64 cluster indices.
    """
    d = ((lab.unsqueeze(1) - centres.view(1, -1, 3, 1, 1).to(lab)) ** 2).sum(2)
    return d.argmin(1)


def cluster_classification_loss(pred: torch.Tensor, labels: torch.Tensor,
                                eps: float = 1e-6) -> torch.Tensor:
    """Cross-entropy of reconstructed cluster probabilities (CorrFlow, thesis eq. 4.4-4.5).

    Args:
        pred: ``(B, K, h, w)`` reconstructed class probabilities (sum to 1 over K).
        labels: ``(B, H, W)`` int64 true cluster of every pixel.
        eps: floor of the probabilities before the log.

    Returns:
        Scalar mean over pixels of ``-log p[label]``.
    """
    p = upsample_to(pred, labels.shape[-2:])
    return F.nll_loss(torch.log(p.clamp_min(eps)), labels)


class HuberReconstructionLoss(nn.Module):
    """Module form of :func:`huber_reconstruction_loss`."""

    def __init__(self, delta: float = 0.1) -> None:
        super().__init__()
        self.delta = delta

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return huber_reconstruction_loss(pred, target, self.delta)


class ClusterClassificationLoss(nn.Module):
    """Module form of :func:`cluster_classification_loss`."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cluster_classification_loss(pred, labels, self.eps)
