"""The group-norm-backed instance norm equals torch's own, values and gradients."""

from __future__ import annotations

import pytest
import torch

from gazevos.models.norm import InstanceNorm2d


@pytest.mark.parametrize("affine", [False, True])
def test_equals_torch_instance_norm(affine: bool) -> None:
    torch.manual_seed(0)
    ours, ref = InstanceNorm2d(5, affine=affine), torch.nn.InstanceNorm2d(5, affine=affine)
    if affine:
        with torch.no_grad():
            ours.weight.normal_()
            ours.bias.normal_()
        ref.load_state_dict(ours.state_dict())  # same keys
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = (3 * torch.randn(3, 5, 7, 9) + 2).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    got, want = ours(x), ref(x2)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # unit variance per (sample, channel) without affine
    if not affine:
        torch.testing.assert_close(got.var((2, 3), unbiased=False),
                                   torch.ones(3, 5), rtol=1e-3, atol=1e-3)
    w = torch.randn_like(got)
    (got * w).sum().backward()
    (want * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-5)
    if affine:
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)


def test_running_stats_keep_torch_behaviour() -> None:
    norm = InstanceNorm2d(2, track_running_stats=True)
    norm(torch.randn(2, 2, 4, 4) + 5)
    assert norm.running_mean.abs().sum() > 0  # torch's path, which updates the stats


def test_channels_last_input_gives_the_same_values() -> None:
    x = torch.randn(2, 4, 6, 8)
    got = InstanceNorm2d(4)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, torch.nn.functional.instance_norm(x), rtol=1e-5, atol=1e-5)
