"""RANet losses: soft IoU, -log IoU and BCE against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from gazevos.losses.ranet import segmentation_loss, soft_iou


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_soft_iou_by_hand() -> None:
    # two pixels: sigmoid outputs 0.8 (target 1) and 0.4 (target 0)
    logits = torch.tensor([_logit(0.8), _logit(0.4)]).view(1, 1, 1, 2)
    target = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    iou = soft_iou(logits, target, eps=0.0)
    # I = 0.8, U = 1.2 + 1 - 0.8 = 1.4
    assert float(iou) == pytest.approx(0.8 / 1.4, abs=1e-6)
    assert float(segmentation_loss("iou", logits, target)) == pytest.approx(
        1 - 1.8 / 2.4, abs=1e-6)  # eps = 1 pixel: (0.8 + 1) / (1.4 + 1)
    assert float(segmentation_loss("log_iou", logits, target)) == pytest.approx(
        -math.log(1.8 / 2.4), abs=1e-6)
    bce = -(math.log(0.8) + math.log(0.6)) / 2
    assert float(segmentation_loss("bce", logits, target)) == pytest.approx(bce, abs=1e-6)


def test_iou_is_per_object_and_void_is_ignored() -> None:
    big = 20.0
    # object 0 perfect, object 1 completely wrong: mean of (1 - 1) and (1 - 1/(2+1)... )
    logits = torch.tensor([[big, -big], [-big, big]]).view(1, 2, 1, 2)
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).view(1, 2, 1, 2)
    per = soft_iou(logits, target, eps=0.0)
    assert per.shape == (1, 2)
    assert per[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert per[0, 1] == pytest.approx(0.0, abs=1e-6)
    valid = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)  # second pixel void
    assert float(segmentation_loss("bce", logits[:, :1], target[:, :1], valid)) < 1e-6
    masked = soft_iou(logits, target, valid, eps=0.0)
    assert masked[0, 1] == pytest.approx(0.0, abs=1e-6)


def test_losses_have_gradients_and_unknown_name_fails() -> None:
    logits = torch.zeros(1, 1, 4, 4, requires_grad=True)
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :2] = 1
    segmentation_loss("log_iou", logits, target).backward()
    assert logits.grad is not None and logits.grad[..., 0, 0] < 0 < logits.grad[..., 3, 3]
    with pytest.raises(ValueError, match="unknown loss"):
        segmentation_loss("dice", logits, target)
