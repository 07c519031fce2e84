"""MAST regression and CorrFlow classification losses: hand-computed values, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazevos.losses.mast import (
    ClusterClassificationLoss,
    HuberReconstructionLoss,
    assign_clusters,
    cluster_classification_loss,
    huber_reconstruction_loss,
)
from gazevos.models.mast.model import MastModel, MastModelConfig
from gazevos.models.mast.propagate import SearchConfig
from gazevos.train.mast import MastTrainConfig, mast_loss


def test_huber_values_after_upsampling() -> None:
    pred = torch.full((1, 1, 2, 2), 0.5)  # constant: upsampling keeps 0.5 everywhere
    target = torch.full((1, 1, 4, 4), 0.55)  # |diff| 0.05 < delta: 0.5 * 0.05^2
    assert huber_reconstruction_loss(pred, target, delta=0.1).item() == pytest.approx(0.00125)
    target = torch.full((1, 1, 4, 4), 1.5)  # |diff| 1 > delta: delta * (1 - delta / 2)
    assert HuberReconstructionLoss(0.1)(pred, target).item() == pytest.approx(0.095)
    target[..., :2] = 0.55  # half and half
    assert huber_reconstruction_loss(pred, target, 0.1).item() == pytest.approx(
        (0.00125 + 0.095) / 2)


def test_classification_values() -> None:
    labels = torch.tensor([[[0, 1], [2, 3]]])
    uniform = torch.full((1, 4, 1, 1), 0.25)  # upsampled to 2x2, still uniform
    assert cluster_classification_loss(uniform, labels).item() == pytest.approx(math.log(4))
    onehot = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).float()
    assert ClusterClassificationLoss()(onehot, labels).item() == pytest.approx(0.0, abs=1e-5)
    half = onehot * 0.5 + 0.125  # p(label) = 0.625
    assert cluster_classification_loss(half, labels).item() == pytest.approx(-math.log(0.625))


def test_assign_clusters_nearest_centre() -> None:
    centres = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    lab = torch.tensor([[0.1, 0.0, 0.0], [0.9, 0.2, 0.0], [0.0, 0.6, 0.7]]).T.reshape(1, 3, 1, 3)
    assert assign_clusters(lab, centres).tolist() == [[[0, 1, 2]]]


@pytest.mark.parametrize("loss", ["classification", "regression"])
def test_gradients_reach_every_parameter(loss: str) -> None:
    torch.manual_seed(0)
    cfg = MastTrainConfig(model=MastModelConfig(widths=(4, 8), depths=(1, 1), feature_dim=8),
                          search=SearchConfig(roi_window=3, key_window=3), loss=loss,
                          num_clusters=4)
    model = MastModel(cfg.model)
    lab = torch.rand(2, 3, 3, 16, 16) * 2 - 1  # 2 clips of 2 references + query
    centres = torch.rand(4, 3) * 2 - 1
    out = mast_loss(model, lab, (20, 1), cfg, centres, np.random.default_rng(0))
    assert out.ndim == 0 and torch.isfinite(out)
    out.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
