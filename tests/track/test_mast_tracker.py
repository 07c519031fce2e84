"""The ``mast`` tracker: following objects, objects added later, bounded memory, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.models.mast.model import MastModel, MastModelConfig, model_to_checkpoint
from gazevos.track import TRACKERS, build_tracker
from gazevos.track.mast import MastTracker


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small encoder: its features still separate distinct colours."""
    torch.manual_seed(0)
    model = MastModel(MastModelConfig(widths=(8, 16), depths=(1, 1), feature_dim=16))
    path = tmp_path_factory.mktemp("ck") / "mast.pt"
    torch.save(model_to_checkpoint(model), path)
    return path


class ColourFeatures(torch.nn.Module):
    """Hand-made encoder: 4x4-averaged LAB plus a constant, so colours are what matches
    (tests the memory read, not learned features: an untrained encoder's features are
    nearly parallel)."""

    def forward(self, lab: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.avg_pool2d(lab, 4, ceil_mode=True) * 5.0
        return torch.cat([x, torch.full_like(x[:, :1], 0.5)], dim=1)


def _colour_tracker(checkpoint: Path, **kw: object) -> MastTracker:
    trk = MastTracker.from_options(checkpoint=checkpoint, scale=1.0, **kw)
    trk.model = ColourFeatures()
    return trk


def _scene(i: int, h: int = 64, w: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Grey frame, a red square moving right 2 px/frame (id 1), a static blue one (id 2)."""
    img = np.full((h, w, 3), 120, dtype=np.uint8)
    lab = np.zeros((h, w), dtype=np.uint8)
    x = 8 + 2 * i
    img[16:36, x:x + 20] = (230, 30, 30)
    lab[16:36, x:x + 20] = 1
    img[40:60, 60:84] = (30, 30, 230)
    lab[40:60, 60:84] = 2
    return img, lab


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_registered() -> None:
    assert TRACKERS["mast"] == "gazevos.track.mast:MastTracker"


def test_follows_objects_and_adds_later_ones(checkpoint: Path) -> None:
    trk = _colour_tracker(checkpoint)
    img, lab = _scene(0)
    first = np.where(lab == 1, 1, 0).astype(np.uint8)
    pred = trk.step(img, mask=first)
    assert pred.object_ids == (1,)
    for i in range(1, 12):
        img, lab = _scene(i)
        given = lab if i == 6 else None  # object 2 appears in the annotation at frame 6
        pred = trk.step(img, mask=given, objects=[2] if i == 6 else None)
        if i > 6:
            assert pred.object_ids == (1, 2)
            assert _iou(pred.labels == 2, lab == 2) > 0.8
        assert _iou(pred.labels == 1, lab == 1) > 0.7, i
        np.testing.assert_allclose(pred.probs.sum(0), 1.0, atol=1e-4)


def test_memory_is_bounded(checkpoint: Path) -> None:
    trk = _colour_tracker(checkpoint, short_term=[5, 3, 1], long_term=[0, 5],
                          max_given_refs=1)
    img, lab = _scene(0, 32, 48)
    trk.step(img, mask=lab)
    sizes = []
    for i in range(1, 40):
        img, lab = _scene(i % 8, 32, 48)
        trk.step(img, mask=lab if i in (20, 30) else None)
        sizes.append(trk.memory_size)
    assert max(sizes) <= 2 + 1 + 5
    assert trk._references()[0].index == 0  # the first frame stays a reference
    trk.reset()
    assert trk.memory_size == 0


def test_untrained_checkpoint_runs_end_to_end(checkpoint: Path) -> None:
    trk = build_tracker("mast", checkpoint=checkpoint, scale=0.5)
    img, lab = _scene(0)
    trk.step(img, mask=lab)
    pred = trk.step(_scene(1)[0])
    assert pred.probs.shape == (3, 64, 96) and pred.object_ids == (1, 2)
    assert np.isfinite(pred.probs).all()


def test_bad_options(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(GazevosError, match="unknown setting"):
        build_tracker("mast", checkpoint=checkpoint, bogus=1)
    with pytest.raises(GazevosError, match="not found"):
        build_tracker("mast", checkpoint=tmp_path / "none.pt")


@pytest.mark.slow
def test_rss_bounded_over_10000_frames() -> None:
    """bench/mast_memory.py: RSS at frame 10,000 within 8 MiB of its level at frame 100."""
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[2] / "bench" / "mast_memory.py"
    res = subprocess.run([sys.executable, str(bench), "--frames", "10000"],
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]


def test_shipped_model_is_the_default() -> None:
    from gazevos.models.mast.model import default_checkpoint

    try:
        path = default_checkpoint()
    except GazevosError:
        pytest.skip("no shipped MAST model in this checkout")
    assert path.stat().st_size <= 25 * 1024 * 1024
    trk = build_tracker("mast")
    img, lab = _scene(0)
    trk.step(img, mask=lab)
    assert trk.step(_scene(1)[0]).object_ids == (1, 2)


def test_hard_memory_stores_pooled_argmax_labels(checkpoint: Path) -> None:
    img, lab = _scene(0)
    soft = _colour_tracker(checkpoint)
    hard = _colour_tracker(checkpoint, hard_memory=True, topk=4)
    for trk in (soft, hard):
        trk.step(img, mask=lab)
        img1, _ = _scene(1)
        pred = trk.step(img1)
    entry = hard._short[1]
    want = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(np.stack(
        [pred.labels == 1, pred.labels == 2]).astype(np.float32))[None], (16, 24))[0]
    torch.testing.assert_close(entry.probs, want)
    assert set(np.unique(hard._short[1].probs.numpy() * 16).round(3)) <= set(range(17))
    # the soft memory keeps probabilities strictly between 0 and 1 somewhere
    p = soft._short[1].probs.numpy()
    assert ((p > 0.01) & (p < 0.99)).any()


def test_temperature_override(checkpoint: Path) -> None:
    trk = MastTracker.from_options(checkpoint=checkpoint, temperature=0, roi_temperature=0)
    assert trk.affinity == trk.model.config.affinity  # 0: the checkpoint's
    trk = MastTracker.from_options(checkpoint=checkpoint)  # defaults: sharper than trained
    assert (trk.affinity.temperature, trk.affinity.roi_temperature) == (0.05, 0.02)
    trk = MastTracker.from_options(checkpoint=checkpoint, temperature=0.03, roi_temperature=0)
    assert trk.affinity.temperature == 0.03
    assert trk.affinity.roi_temperature == trk.model.config.affinity.roi_temperature
    trk = MastTracker.from_options(checkpoint=checkpoint, temperature=0, roi_temperature=0.01)
    assert trk.affinity.roi_temperature == 0.01
    assert trk.affinity.temperature == trk.model.config.affinity.temperature


def test_input_scale_is_capped_in_pixels():
    from gazevos.track.mast import MastTracker, MastTrackerConfig

    trk = MastTracker.__new__(MastTracker)       # input_scale reads the config only
    trk.config = MastTrackerConfig()
    assert trk.input_scale((480, 854)) == 0.5                 # 102,480 pixels: under the cap
    s = trk.input_scale((1080, 1920))
    assert round(1080 * s) * round(1920 * s) == 442 * 249       # about 110,000 (rounded)
    assert s == pytest.approx((110_000 / (1080 * 1920)) ** 0.5)
    trk.config = MastTrackerConfig(max_pixels=0)
    assert trk.input_scale((1080, 1920)) == 0.5               # 0: no cap
