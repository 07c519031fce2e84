"""Gradient reversal, domain discriminator and the DANN losses."""

from __future__ import annotations

import math

import pytest
import torch

from gazevos.losses.semseg import dann_loss, domain_loss, segmentation_loss
from gazevos.models.semseg.dann import DomainDiscriminator, GradientReversal, grad_reverse


@pytest.mark.parametrize("scale", [1.0, 0.01, 2.5])
def test_gradient_reversal_sign_and_scale(scale: float) -> None:
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = grad_reverse(x, scale)
    assert torch.equal(y, x.detach())  # identity forward
    (y * torch.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-1.0, -10.0, -100.0]) * scale)
    x.grad = None
    GradientReversal(scale)(x).pow(2).sum().backward()  # d/dx x^2 = 2x, reversed
    assert torch.allclose(x.grad, -scale * 2 * x.detach())


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (30, 54), (64, 33)])
def test_discriminator_output_shape(size: tuple[int, int]) -> None:
    disc = DomainDiscriminator(12)
    out = disc(torch.randn(3, 12, *size))
    assert out.shape == (3,)
    assert disc.pool(disc.convs(torch.randn(2, 12, *size))).shape == (2, 64, 1, 1)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in disc.modules()) == 3


def test_domain_loss_known_values() -> None:
    zero = torch.zeros(4)
    assert math.isclose(domain_loss(zero, zero).item(), 2 * math.log(2), rel_tol=1e-6)
    # confident and right: ~0; confident and wrong: ~2 * 20
    big = torch.full((2,), 20.0)
    assert domain_loss(big, -big).item() < 1e-6
    assert abs(domain_loss(-big, big).item() - 40.0) < 1e-6
    assert math.isclose(dann_loss(torch.tensor(1.0), torch.tensor(3.0), 0.1).item(), 1.3,
                        rel_tol=1e-6)


def test_segmentation_loss_ignores_255_and_upsamples() -> None:
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1] = 10.0  # predicts class 1 everywhere
    labels = torch.full((1, 4, 4), 255, dtype=torch.long)
    labels[0, 0, 0] = 1
    assert segmentation_loss(logits, labels).item() < 1e-3
    labels[0, 0, 0] = 0
    assert abs(segmentation_loss(logits, labels).item() - 10.0) < 1e-3


def test_segmentation_loss_class_weights() -> None:
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 1, 0, 0] = math.log(3.0)  # pixel 0 (class 0): p0 = 1/4 -> loss ln 4
    labels = torch.tensor([[[0, 1]]])  # pixel 1 (class 1): p1 = 1/2 -> loss ln 2
    plain = segmentation_loss(logits, labels).item()
    weighted = segmentation_loss(logits, labels, torch.tensor([1.0, 3.0])).item()
    assert math.isclose(plain, (math.log(4) + math.log(2)) / 2, rel_tol=1e-6)
    assert math.isclose(weighted, (math.log(4) + 3 * math.log(2)) / 4, rel_tol=1e-6)
