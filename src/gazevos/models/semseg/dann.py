"""Domain-adversarial parts (DANN, Ganin et al. 2016; thesis section 2.1.1).

A gradient reversal layer sits between the segmentation features and a small domain
discriminator: forward it is the identity, backward it multiplies the gradient by
``-lambda``, so minimising the discriminator loss trains the discriminator to tell
source from target while pushing the feature extractor to make them indistinguishable.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:  # noqa: ANN401
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward; backward the incoming gradient times ``-scale``.

    Shapes: any tensor -> the same tensor values.
    """
    return _GradReverse.apply(x, float(scale))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse` (no parameters).

    Args:
        scale: lambda; the backward pass multiplies gradients by ``-scale``.
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class DomainDiscriminator(nn.Module):
    """Three 3x3 convolutions (stride 2, ReLU), adaptive max-pool to ``1x1xwidth`` and a
    linear layer giving one logit per image (source: 1, target: 0), as in the thesis.

    Args:
        in_channels: channels of the segmentation features.
        width: channels of the convolutions (64, the pooled vector size in the thesis).

    Shapes: ``(B, in_channels, H, W)`` with any ``H, W >= 1`` -> ``(B,)`` logits.
    """

    def __init__(self, in_channels: int, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(3):
            layers += [nn.Conv2d(c, width, 3, 2, 1), nn.ReLU(inplace=True)]
            c = width
        self.convs = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(width, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.convs(feats)).flatten(1)).squeeze(1)
