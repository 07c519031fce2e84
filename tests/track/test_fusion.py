"""The ``fusion`` tracker: fusion rules by hand, weight 1 / 0 equal to ``classic`` / ``mast``
alone in both variants, late fusion of independent runs, feedback memories, revival, state."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from gazevos.config import config_to_dict, load_config
from gazevos.errors import GazevosError
from gazevos.eval.synthetic import Square, moving_squares
from gazevos.models.mast.model import MastModel, MastModelConfig, model_to_checkpoint
from gazevos.track import TRACKERS, build_tracker
from gazevos.track.base import Prediction, Tracker, aggregate, shrink
from gazevos.track.fusion import (
    FusionConfig,
    FusionTracker,
    fuse_distributions,
    fuse_objects,
)
from gazevos.track.resumable import tracker_identity

pytestmark = pytest.mark.usefixtures("one_thread")

#: MAST settings of the tests (the untrained tiny encoder below)
MAST = {"scale": 1.0}


def _checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model = MastModel(MastModelConfig(widths=(8, 16), depths=(1, 1), feature_dim=16))
    torch.save(model_to_checkpoint(model), path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small MAST encoder (fast; its masks still follow colours roughly)."""
    return _checkpoint(tmp_path_factory.mktemp("fusion_ck") / "mast.pt", 0)


@pytest.fixture(scope="module")
def video() -> tuple[np.ndarray, np.ndarray]:
    """6 frames of two textured squares moving over a textured background, 64x96."""
    return moving_squares(6, (64, 96), (Square(18, (10, 10), (1.0, 2.0)),
                                        Square(14, (36, 60), (-1.0, -1.5))), seed=5)


def _run(trk: Tracker, frames: np.ndarray, first: np.ndarray) -> list[Prediction]:
    trk.reset()
    return [trk.step(f, mask=first if t == 0 else None) for t, f in enumerate(frames)]


def _fusion(checkpoint: Path, **kw: object) -> FusionTracker:
    trk = build_tracker("fusion", checkpoint=checkpoint, mast=MAST, **kw)
    assert isinstance(trk, FusionTracker)
    return trk


# ---------------------------------------------------------------- fusion rules by hand
def test_fuse_objects_by_hand() -> None:
    a = np.array([[0.8, 0.0]], np.float32)
    b = np.array([[0.4, 0.999]], np.float32)
    lo = fuse_objects(a, b, 0.5, "logodds", 0.01)
    # 0.5 * logit(0.8) + 0.5 * logit(0.4) = 0.5 * (log 4 + log(2/3)) = 0.5 * log(8/3)
    assert lo[0, 0] == pytest.approx(1 / (1 + np.exp(-0.5 * np.log(8 / 3))), abs=1e-6)
    # both clipped to [0.01, 0.99]: logit(0.01) + logit(0.99) = 0
    assert lo[0, 1] == pytest.approx(0.5, abs=1e-6)
    lo3 = fuse_objects(a, b, 0.25, "logodds", 0.01)
    z = 0.25 * np.log(4) + 0.75 * np.log(0.4 / 0.6)
    assert lo3[0, 0] == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-6)
    mean = fuse_objects(a, b, 0.25, "mean")
    np.testing.assert_allclose(mean, [[0.25 * 0.8 + 0.75 * 0.4, 0.75 * 0.999]], atol=1e-7)
    assert fuse_objects(a, b, 1.0) is a and fuse_objects(a, b, 0.0, "mean") is b
    with pytest.raises(ValueError, match="rule"):
        fuse_objects(a, b, 0.5, "max")


def test_fuse_distributions_by_hand() -> None:
    rng = np.random.default_rng(0)
    a1 = rng.uniform(0.0, 1.0, (1, 5, 7)).astype(np.float32)
    b1 = rng.uniform(0.0, 1.0, (1, 5, 7)).astype(np.float32)
    a, b = np.concatenate([1 - a1, a1]), np.concatenate([1 - b1, b1])
    a[:, 0, 0] = b[:, 0, 0] = (0.0, 1.0)        # a given pixel: one-hot in both
    for w, floor in ((0.5, 0.01), (0.3, 1e-6), (0.8, 0.1)):
        out = fuse_distributions(a, b, w, "logodds", floor)
        assert out.dtype == np.float32 and out.shape == a.shape
        np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-6)
        # one object: its log-odds are the weighted mean of the two trackers' (clipped)
        ca, cb = np.clip(a, floor, 1 - floor), np.clip(b, floor, 1 - floor)
        z = w * np.log(ca[1] / ca[0]) + (1 - w) * np.log(cb[1] / cb[0])
        want = 1 / (1 + np.exp(-z))
        want[0, 0] = 1.0                         # equal in both: kept exactly
        np.testing.assert_allclose(out[1], want, atol=1e-5)
        assert out[1, 0, 0] == 1.0 and out[0, 0, 0] == 0.0
    mean = fuse_distributions(a, b, 0.3, "mean")
    np.testing.assert_allclose(mean, 0.3 * a + 0.7 * b, atol=1e-7)
    assert fuse_distributions(a, b, 1.0) is a and fuse_distributions(a, b, 0.0) is b
    # two objects and background: log-linear pooling, renormalised
    p = aggregate(rng.uniform(0, 1, (2, 3, 4)))
    q = aggregate(rng.uniform(0, 1, (2, 3, 4)))
    out = fuse_distributions(p, q, 0.5, "logodds", 1e-6)
    g = np.sqrt(p * q)
    np.testing.assert_allclose(out, g / g.sum(axis=0), atol=1e-5)


# ---------------------------------------------------------------- the tracker
def _classic() -> Tracker:
    """``classic`` alone with the fusion's default sub-tracker settings."""
    return build_tracker("classic", **config_to_dict(FusionConfig().classic))


def test_registered_and_preset_is_the_defaults(checkpoint: Path) -> None:
    assert TRACKERS["fusion"] == "gazevos.track.fusion:FusionTracker"
    assert load_config(FusionConfig, "fusion") == FusionConfig()
    # the classic settings the fusion was cross-validated with, not classic's own defaults
    assert (FusionConfig().classic.band_stride, FusionConfig().classic.fit_defer) == (1, 0)
    trk = _fusion(checkpoint, device="cpu", weight=0.25, classic={"dis_preset": "fast"})
    assert trk.config.weight == 0.25 and trk.classic.config.dis_preset == "fast"
    assert trk.mast.config.scale == 1.0 and trk.mast.device == torch.device("cpu")
    with pytest.raises(GazevosError, match="setting 'weight' must be >= 0 and <= 1"):
        _fusion(checkpoint, weight=1.5)
    with pytest.raises(GazevosError, match="setting 'rule' must be one of"):
        _fusion(checkpoint, rule="max")


@pytest.mark.parametrize("feedback", [False, True])
def test_weight_one_is_classic_and_weight_zero_is_mast(
        checkpoint: Path, video: tuple[np.ndarray, np.ndarray], feedback: bool) -> None:
    frames, labels = video
    classic = _run(_classic(), frames, labels[0])
    mast = _run(build_tracker("mast", checkpoint=checkpoint, **MAST), frames, labels[0])
    for weight, alone in ((1.0, classic), (0.0, mast)):
        got = _run(_fusion(checkpoint, weight=weight, feedback=feedback), frames, labels[0])
        for g, want in zip(got, alone, strict=True):
            assert g.object_ids == want.object_ids == (1, 2)
            np.testing.assert_array_equal(g.probs, want.probs)


def test_late_fusion_fuses_two_independent_runs(
        checkpoint: Path, video: tuple[np.ndarray, np.ndarray]) -> None:
    frames, labels = video
    classic = _run(_classic(), frames, labels[0])
    mast = _run(build_tracker("mast", checkpoint=checkpoint, **MAST), frames, labels[0])
    trk = _fusion(checkpoint, weight=0.4, feedback=False, rule="logodds", floor=0.05)
    got = _run(trk, frames, labels[0])
    for t, (g, a, b) in enumerate(zip(got, classic, mast, strict=True)):
        np.testing.assert_array_equal(g.probs, fuse_distributions(a.probs, b.probs, 0.4,
                                                                  "logodds", 0.05))
        if t == 0:  # the given frame stays exactly the given mask
            np.testing.assert_array_equal(g.labels, labels[0])
    assert trk.frame_index == len(frames) - 1 and trk.object_ids == [1, 2]
    assert set(trk.seconds) >= {"classic", "mast", "fuse"}


def test_feedback_both_remember_the_fused_prediction(
        checkpoint: Path, video: tuple[np.ndarray, np.ndarray]) -> None:
    frames, labels = video
    trk = _fusion(checkpoint, weight=0.5, feedback=True)
    preds = _run(trk, frames[:4], labels[0])
    last = preds[-1]
    assert trk.classic.frame_index == trk.mast.frame_index == trk.frame_index == 3
    # mast's newest memory frame holds the fused probabilities, pooled to its feature grid
    entry = trk.mast._short[3]
    pooled = torch.nn.functional.adaptive_avg_pool2d(
        torch.from_numpy(last.probs[1:])[None], entry.probs.shape[-2:])[0]
    torch.testing.assert_close(entry.probs, pooled)
    # classic's next prior is the fused probability on its work grid
    for i in (1, 2):
        st = trk.classic._objects[i]
        want = last.prob(i)
        if want.shape != st.prob.shape:
            want = shrink(want, st.prob.shape[::-1])
        np.testing.assert_array_equal(st.prob, want)
    # the fusion differs from both trackers alone, and follows the squares
    classic = _run(_classic(), frames[:4], labels[0])[-1]
    assert not np.array_equal(last.probs, classic.probs)
    for i in (1, 2):
        inter = np.logical_and(last.labels == i, labels[3] == i).sum()
        union = np.logical_or(last.labels == i, labels[3] == i).sum()
        assert inter / union > 0.5


def test_revive_takes_up_a_lost_object_the_fused_mask_holds(
        checkpoint: Path, video: tuple[np.ndarray, np.ndarray]) -> None:
    frames, labels = video
    for revive in (True, False):
        # classic's own search never re-finds it (a probability of 1 is needed)
        trk = _fusion(checkpoint, weight=0.1, floor=0.1, feedback=True, revive=revive,
                      classic={"reacquire_near_probability": 1.0,
                               "reacquire_far_probability": 1.0})
        _run(trk, frames[:3], labels[0])
        st = trk.classic._objects[1]
        st.lost = True                       # classic lost the square, the fusion has it
        trk.step(frames[3])
        assert st.lost is not revive


def test_state_pickles_and_goes_on_the_same(
        checkpoint: Path, video: tuple[np.ndarray, np.ndarray]) -> None:
    frames, labels = video
    for feedback in (True, False):
        trk = _fusion(checkpoint, weight=0.5, feedback=feedback)
        full = _run(trk, frames, labels[0])
        trk.reset()
        for t in range(3):
            trk.step(frames[t], mask=labels[0] if t == 0 else None)
        copy = pickle.loads(pickle.dumps(trk))
        for t in range(3, len(frames)):
            np.testing.assert_array_equal(copy.step(frames[t]).probs, full[t].probs)


def test_parallel_steps_give_the_sequential_results(
        checkpoint: Path, video: tuple[np.ndarray, np.ndarray]) -> None:
    frames, labels = video
    par = _fusion(checkpoint, weight=0.5)
    assert par.config.parallel                      # the default
    fast = _run(par, frames, labels[0])
    assert par._pool is not None                    # the worker thread really ran
    slow = _run(_fusion(checkpoint, weight=0.5, parallel=False), frames, labels[0])
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a.probs, b.probs)
    assert {"classic", "mast"} <= set(par.seconds)


def test_identity_covers_the_mast_weights(checkpoint: Path, tmp_path: Path) -> None:
    other = _checkpoint(tmp_path / "other.pt", 1)
    a = tracker_identity(_fusion(checkpoint))
    b = tracker_identity(_fusion(other))
    assert a["name"] == "fusion" and a["config"] == b["config"]
    assert a["weights"] != b["weights"]
    assert tracker_identity(_fusion(checkpoint))["weights"] == a["weights"]


def test_an_object_classic_lost_at_a_view_change_stays_absent(
        checkpoint: Path, video: tuple[np.ndarray, np.ndarray],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """While ``classic`` has lost an object at a view change and not found it again, the
    fusion answers "absent" for it, whatever ``mast`` sees, and does not revive it."""
    frames, labels = video
    trk = _fusion(checkpoint, weight=0.05)         # mast nearly alone
    trk.reset()
    for t in range(3):
        trk.step(frames[t], mask=labels[0] if t == 0 else None)
    st = trk.classic._objects[1]
    st.lost = st.view_changed = True               # as a view change leaves it
    monkeypatch.setattr(type(trk.classic), "_reacquire", lambda self, st, feats: None)
    seen: dict[int, float] = {}
    real = type(trk.mast)._propagate

    def spy(self, frame):
        out = real(self, frame)
        seen.update({i: float(p.max()) for i, p in out.items()})
        return out

    monkeypatch.setattr(type(trk.mast), "_propagate", spy)
    pred = trk.step(frames[3])
    assert seen[1] > 0.6                           # mast still sees object 1 ...
    assert not (pred.labels == 1).any()            # ... the fusion does not
    assert st.lost and st.view_changed             # not revived from the fused mask
