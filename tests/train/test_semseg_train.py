"""Segmentation training / DANN: loss goes down, gradients reach everything, resume, shift."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.io.rundir import staging_path
from gazevos.losses.semseg import dann_loss, domain_loss, segmentation_loss
from gazevos.models.semseg.checkpoint import load_model, read_checkpoint
from gazevos.models.semseg.dann import DomainDiscriminator, grad_reverse
from gazevos.train.domain_shift import HeadCamShift
from gazevos.train.semseg import (
    BatchSampler,
    RunOptions,
    SemsegTrainConfig,
    build_model,
    confusion,
    iou_from_confusion,
    train_semseg,
)
from gazevos.train.semseg_data import LabelledSet

CFG = SemsegTrainConfig(arch="tiny", size=(32, 40), crop=(0, 0), batch_size=4,
                        target_batch_size=2, learning_rate=1e-2, steps=30, save_every=10)


def squares(n: int, seed: int, size: tuple[int, int] = (32, 40)) -> LabelledSet:
    """Dark noisy images with one bright square: the square is class 1."""
    rng = np.random.default_rng(seed)
    h, w = size
    images = rng.integers(0, 60, size=(n, h, w, 3)).astype(np.uint8)
    labels = np.zeros((n, h, w), dtype=np.uint8)
    for i in range(n):
        y, x = rng.integers(0, h - 12), rng.integers(0, w - 12)
        images[i, y:y + 12, x:x + 12] = rng.integers(180, 255, size=3)
        labels[i, y:y + 12, x:x + 12] = 1
    return LabelledSet(images, labels, ["synthetic"] * n)


def _log(path) -> np.ndarray:
    return np.loadtxt(path / "log.csv", delimiter=",", skiprows=1)


def test_training_reduces_loss(tmp_path) -> None:
    torch.set_num_threads(1)
    data = squares(16, 0)
    train_semseg(data, None, tmp_path / "run", CFG, RunOptions(progress=False))
    loss = _log(tmp_path / "run")[:, 1]
    assert len(loss) == 30
    assert loss[-5:].mean() < 0.6 * loss[:5].mean()
    model = load_model(tmp_path / "run" / "model.pt")
    assert model.classes == ("background", "foreground")
    iou = iou_from_confusion(confusion(model, data.images, data.labels))
    assert iou[1] > 0.3


def test_dann_step_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = build_model(CFG)
    disc = DomainDiscriminator(model.feature_channels, 16)
    data = squares(4, 1)
    sampler = BatchSampler(CFG, np.random.default_rng(0))
    xs, ys = sampler.take(data.images, data.labels, 2)
    xt, _ = sampler.take(squares(4, 2).images, None, 2)
    feats = model.features(torch.cat([xs, xt]))
    cls = segmentation_loss(model.classify(feats[:2]), ys)
    d = disc(grad_reverse(feats, 1.0))
    loss = dann_loss(cls, domain_loss(d[:2], d[2:]), 0.01)
    loss.backward()
    for name, p in list(model.named_parameters()) + list(disc.named_parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_reversal_flips_the_feature_gradient() -> None:
    torch.manual_seed(0)
    disc = DomainDiscriminator(4, 8)
    feats = torch.randn(2, 4, 6, 6, requires_grad=True)
    domain_loss(disc(feats[:1]), disc(feats[1:])).backward()
    plain = feats.grad.clone()
    feats.grad = None
    r = grad_reverse(feats, 0.5)
    domain_loss(disc(r[:1]), disc(r[1:])).backward()
    assert torch.allclose(feats.grad, -0.5 * plain, atol=1e-7)


def test_dann_run_and_resume(tmp_path) -> None:
    torch.set_num_threads(1)
    data, target = squares(8, 3), squares(8, 4).images
    cfg = dataclasses.replace(CFG, steps=6, save_every=2)
    out = tmp_path / "dann"
    staged = train_semseg(data, target, out, cfg, RunOptions(progress=False, max_steps=4))
    assert staged == staging_path(out) / "model.pt" and not out.exists()
    assert read_checkpoint(staged)["step"] == 4
    with pytest.raises(GazevosError, match="other data"):  # another target: refused
        train_semseg(data, squares(8, 5).images, out, cfg,
                     RunOptions(progress=False, resume=True))
    train_semseg(data, target, out, cfg, RunOptions(progress=False, resume=True))
    log = _log(out)
    assert log[:, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert np.isfinite(log[:, 3]).all() and (log[:, 3] > 0).all()  # domain loss logged
    state = read_checkpoint(out / "last.pt")
    assert state["step"] == 6 and "discriminator" in state and "optimizer" in state
    with pytest.raises(GazevosError, match="same target setting"):
        train_semseg(data, None, tmp_path / "again", dataclasses.replace(cfg, steps=8),
                     RunOptions(progress=False, resume_from=str(out / "last.pt")))
    assert not (tmp_path / "again").exists() and not staging_path(tmp_path / "again").exists()


def test_bad_labels_rejected(tmp_path) -> None:
    data = squares(2, 5)
    data.labels[0, 0, 0] = 7
    with pytest.raises(GazevosError, match="labels go up to 7"):
        train_semseg(data, None, tmp_path / "x", CFG, RunOptions(progress=False))


def test_domain_shift_is_seeded_and_geometric() -> None:
    shift = HeadCamShift()
    img = np.full((60, 90, 3), 200, dtype=np.uint8)
    a, b = shift.image(img, 3), shift.image(img, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, shift.image(img, 4))  # per-frame noise differs
    # darker, blue cast: mean of blue / red ~ 1.25 / 0.8 in the centre
    centre = a[25:35, 40:50].astype(float).mean(axis=(0, 1))
    assert centre.mean() < 200 * 0.8
    assert 1.4 < centre[2] / centre[0] < 1.7
    labels = np.zeros((60, 90), dtype=np.uint8)
    labels[10:50, 15:75] = 1
    out = shift.labels(labels)
    assert out[0, 0] == 255 and out[-1, -1] == 255  # fisheye corners: outside the image
    assert out[30, 45] == 1 and out[30, 10] == 0 and out[30, 3] == 255
    # barrel: content pulled towards the centre, the periphery more than the middle
    assert (out == 1).sum() < (labels == 1).sum()
    assert out[30, 17] == 0 and out[30, 18] == 1  # hand-checked: edge moved 3 px inwards


def test_dann_interrupted_and_resumed_ends_with_the_weights_of_an_uninterrupted_run(
        tmp_path, monkeypatch) -> None:
    torch.set_num_threads(1)
    data, target = squares(8, 3), squares(8, 4).images
    cfg = dataclasses.replace(CFG, steps=5, save_every=100, crop=(24, 24))
    full = train_semseg(data, target, tmp_path / "full", cfg, RunOptions(progress=False))
    real, calls = BatchSampler.take, []

    def take(self, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(1)
        batch = real(self, *a, **kw)  # draws crops, then Ctrl-C (source batch of step 4)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return batch

    monkeypatch.setattr(BatchSampler, "take", take)
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt, match="stopped at step 3 of 5"):
        train_semseg(data, target, out, cfg, RunOptions(progress=False))
    monkeypatch.setattr(BatchSampler, "take", real)
    assert read_checkpoint(staging_path(out) / "last.pt")["step"] == 3 and not out.exists()
    path = train_semseg(data, target, out, cfg, RunOptions(progress=False, resume=True))
    a, b = read_checkpoint(full), read_checkpoint(path)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    la, lb = read_checkpoint(tmp_path / "full" / "last.pt"), read_checkpoint(out / "last.pt")
    assert all(torch.equal(la["discriminator"][k], lb["discriminator"][k])
               for k in la["discriminator"])
    assert _log(out)[:, 0].tolist() == [1, 2, 3, 4, 5]
