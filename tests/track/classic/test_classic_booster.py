"""Tests of the boosted-trees backends of the ``classic`` pixel classifier."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from gazevos.config import load_config
from gazevos.errors import GazevosError
from gazevos.track.classic.classifier import AppearanceModel, Booster, fit_booster, probability
from gazevos.track.classic.config import ClassicConfig

LIBS = ("xgboost", "sklearn")


def _two_blobs(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.uint8)
    x = rng.normal(0, 0.3, (n, 3)).astype(np.float32)
    x[:, 0] += np.where(y == 1, 1.0, -1.0)
    return x, y


@pytest.mark.parametrize("lib", LIBS)
def test_booster_separates_two_blobs(lib):
    x, y = _two_blobs()
    b = fit_booster(x, y, lib, rounds=20, max_leaf_nodes=7, learning_rate=0.3,
                    min_samples_leaf=5)
    p = b.predict(np.array([[1.0, 0, 0], [-1.0, 0, 0], [0.9, 5, -5]], np.float32))
    assert p.dtype == np.float32 and p.shape == (3,) and b.n_features == 3
    assert p[0] > 0.95 and p[1] < 0.05 and p[2] > 0.9
    assert probability(b, np.zeros((0, 3), np.float32)).shape == (0,)


def test_the_two_libraries_agree_on_held_out_points():
    x, y = _two_blobs(seed=1)
    probe, truth = _two_blobs(2000, seed=2)
    answers = [fit_booster(x, y, lib, 40, 15, 0.2, 4).predict(probe) > 0.5 for lib in LIBS]
    assert (answers[0] == truth).mean() > 0.97
    assert (answers[0] == answers[1]).mean() > 0.97


@pytest.mark.parametrize("lib", LIBS)
def test_a_leaf_bound_above_the_sample_count_leaves_only_the_class_rate(lib):
    # 300 object and 100 background samples; a leaf needs more than all of them (as
    # samples for scikit-learn, as 1/4 hessian per sample for XGBoost): no split, so every
    # point gets the training rate 0.75
    x, y = _two_blobs()
    y = np.where(np.arange(y.size) < 300, 1, 0).astype(np.uint8)
    b = fit_booster(x, y, lib, 30, 7, 0.3, min_samples_leaf=2000)
    p = b.predict(np.array([[3.0, 0, 0], [-3.0, 0, 0]], np.float32))
    np.testing.assert_allclose(p, [0.75, 0.75], atol=0.01)


def test_unknown_library_is_refused():
    x, y = _two_blobs()
    with pytest.raises(ValueError, match="lightgbm"):
        fit_booster(x, y, "lightgbm", 5, 3, 0.3, 5)
    with pytest.raises(ValueError, match="lightgbm"):
        AppearanceModel(5, 3, 0.3, 5, 2, library="lightgbm")


def test_config_names_the_bad_library(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("boost_library: lightgbm\n")
    with pytest.raises(GazevosError, match="boost_library"):
        load_config(ClassicConfig, path)


@pytest.mark.parametrize("lib", LIBS)
def test_saved_model_answers_as_the_live_one(lib):
    x, y = _two_blobs()
    m = AppearanceModel(20, 7, 0.3, 5, recent_frames=2, library=lib)
    m.set_anchor(x, y)
    assert m.fit(background=True)
    probe = _two_blobs(50, seed=3)[0]
    copy = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(copy.predict(probe), m.predict(probe))
    assert isinstance(m._clf, Booster)


def test_a_model_saved_before_the_library_option_still_fits_and_answers():
    # states saved by older versions hold scikit-learn's parameter names and classifier
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = _two_blobs()
    m = AppearanceModel(20, 7, 0.3, 5, recent_frames=2)
    state = m.__getstate__()
    del state["_library"]
    state["_params"] = dict(max_iter=20, max_leaf_nodes=7, learning_rate=0.3,
                            min_samples_leaf=5, early_stopping=False, random_state=0)
    state["_clf"] = HistGradientBoostingClassifier(max_iter=60).fit(x, y)
    old = AppearanceModel.__new__(AppearanceModel)
    old.__dict__.update(state)
    assert old.predict(np.array([[1.5, 0, 0]], np.float32))[0] > 0.9
    old.set_anchor(x, 1 - y)
    assert old.fit()
    assert isinstance(old._clf.model, HistGradientBoostingClassifier)
    assert old.predict(np.array([[1.5, 0, 0]], np.float32))[0] < 0.1


def test_a_missing_xgboost_is_a_one_line_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_xgboost(name, *args, **kwargs):  # noqa: ANN001, ANN202
        if name == "xgboost":
            raise ImportError("No module named 'xgboost'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_xgboost)
    x, y = _two_blobs()
    with pytest.raises(GazevosError, match="boost_library: sklearn"):
        fit_booster(x, y, "xgboost", 5, 3, 0.3, 5)
    assert fit_booster(x, y, "sklearn", 5, 3, 0.3, 5).n_features == 3


def test_a_reset_tracker_starts_importing_xgboost_before_its_first_fit():
    """``import xgboost`` (about 0.8 s) starts when a pass resets the tracker, in a thread,
    not at the first frame's fit (a fresh interpreter: nothing imported it before)."""
    import subprocess
    import sys

    code = (
        "import sys, threading\n"
        "from gazevos.track import build_tracker\n"
        "t = build_tracker('classic')\n"
        "assert 'xgboost' not in sys.modules\n"
        "t.reset()\n"
        "import gazevos.track.classic.classifier as c\n"
        "assert c._preloading is not None and c._preloading.join(60)\n"
        "assert 'xgboost' in sys.modules\n"
        "first = c._preloading\n"
        "t.reset()\n"
        "assert c._preloading is first\n"      # once per process
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
