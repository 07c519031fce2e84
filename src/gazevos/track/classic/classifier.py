"""The per-video, per-object pixel classifier of the ``classic`` tracker.

Gradient-boosted trees (XGBoost's histogram method, or scikit-learn's
:class:`~sklearn.ensemble.HistGradientBoostingClassifier`) trained on samples of the
given mask(s) ("anchor" samples, kept for the whole video) and on confident pixels of
recent frames (a fixed-length ring, so memory stays constant).
"""

from __future__ import annotations

import sys
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache

import numpy as np
from threadpoolctl import ThreadpoolController

from gazevos.errors import GazevosError
from gazevos.io.pipeline import Background


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """The process's thread-pool controller (built once: inspecting libraries is slow)."""
    return ThreadpoolController()


def openmp_threads(n: int) -> AbstractContextManager[object]:
    """Limit OpenMP (scikit-learn's boosting) to ``n`` threads inside the block (0: no limit).

    Boosting with OpenMP threads on a busy machine can be 50x slower than one thread
    (threads spin-wait for each other), so the tracker defaults to one.
    """
    if n <= 0:
        return nullcontext()
    return _controller().limit(limits=n, user_api="openmp")


LIBRARIES = ("xgboost", "sklearn")

_preloading: Background[None] | None = None


def _import_xgboost() -> None:
    try:
        import xgboost  # noqa: F401
    except ImportError:       # fit_booster names what is missing when it is used
        pass


def preload_library(library: str) -> None:
    """Start importing ``library``'s module in a daemon thread (once per process).

    ``import xgboost`` takes about 0.8 s; a tracking pass needs it at its first frame's
    fit, so a tracker that starts the import when it is reset overlaps it with the pass's
    start (decoding, the prompts' masks) instead of waiting for it there.
    """
    global _preloading
    if library == "xgboost" and _preloading is None and "xgboost" not in sys.modules:
        _preloading = Background(_import_xgboost, name="gazevos-import")


class Booster:
    """A fitted boosted-trees pixel classifier of either library.

    Args:
        model: an ``xgboost.Booster`` or a fitted scikit-learn
            ``HistGradientBoostingClassifier``.
        threads: threads of its predictions (0: the library's default).
    """

    def __init__(self, model: object, threads: int = 1) -> None:
        self.model = model
        self.threads = threads

    @property
    def n_features(self) -> int:
        """F, the number of feature columns it was fitted on."""
        m = self.model
        return int(m.num_features() if hasattr(m, "num_features")
                   else m.n_features_in_)  # type: ignore[attr-defined]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(n,)`` float32 object probability of samples ``x (n, F)``."""
        return probability(self.model, x, self.threads)


def probability(model: object, x: np.ndarray, threads: int = 1) -> np.ndarray:
    """``(n,)`` float32 object probability of ``x (n, F)`` from ``model``: a
    :class:`Booster`, an ``xgboost.Booster`` or a scikit-learn classifier (states saved
    before the XGBoost option hold the latter)."""
    if x.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    if isinstance(model, Booster):
        return model.predict(x)
    if hasattr(model, "inplace_predict"):     # xgboost.Booster
        return np.asarray(model.inplace_predict(np.ascontiguousarray(x, dtype=np.float32)),
                          dtype=np.float32)
    with openmp_threads(threads):
        return model.predict_proba(x)[:, 1].astype(np.float32)  # type: ignore[attr-defined]


def fit_booster(x: np.ndarray, y: np.ndarray, library: str, rounds: int, max_leaf_nodes: int,
                learning_rate: float, min_samples_leaf: int, threads: int = 1,
                seed: int = 0, l2: float = 0.0, bins: int = 256) -> Booster:
    """Boosted trees fitted on ``x (n, F)`` float32 and ``y (n,)`` 0/1 labels.

    Both libraries grow ``rounds`` trees of at most ``max_leaf_nodes`` leaves best-first
    on ``bins``-bin histograms of each feature (scikit-learn: at most 255), with shrinkage
    ``learning_rate`` and the L2 penalty ``l2`` on leaf values (0: none).
    scikit-learn's ``min_samples_leaf`` counts samples; XGBoost bounds a leaf's hessian
    instead, ``min_samples_leaf / 4`` (the hessian of a sample at probability 0.5 is 1/4).
    XGBoost's fit releases the interpreter lock for its whole length and its predictions
    are about 3x faster (``docs/experiments/speed.md``, session 13).  Its data is a plain
    ``DMatrix``: the training sketches the bins itself, in less time than a
    ``QuantileDMatrix`` does (67 against 75 ms for 9,000 samples, identical trees).
    """
    if library == "xgboost":
        try:
            import xgboost
        except ImportError as exc:   # a dependency, but an environment may lack it
            raise GazevosError("the classic tracker's boost_library 'xgboost' is not "
                               "installed: pip install xgboost-cpu==3.2.0, or set "
                               "boost_library: sklearn in a --config YAML") from exc

        params = {"tree_method": "hist", "objective": "binary:logistic",
                  "grow_policy": "lossguide", "max_depth": 0, "max_leaves": max_leaf_nodes,
                  "eta": learning_rate, "reg_lambda": l2,
                  "min_child_weight": min_samples_leaf / 4.0, "max_bin": bins,
                  "nthread": threads if threads > 0 else 0, "seed": seed, "verbosity": 0}
        data = xgboost.DMatrix(np.ascontiguousarray(x, dtype=np.float32), label=y,
                               nthread=params["nthread"])
        return Booster(xgboost.train(params, data, num_boost_round=rounds), threads)
    if library != "sklearn":
        raise ValueError(f"unknown boosting library {library!r} (one of {', '.join(LIBRARIES)})")
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(max_iter=rounds, max_leaf_nodes=max_leaf_nodes,
                                         learning_rate=learning_rate,
                                         min_samples_leaf=min_samples_leaf,
                                         l2_regularization=l2, max_bins=min(bins, 255),
                                         early_stopping=False, random_state=seed)
    with openmp_threads(threads):
        clf.fit(x, y)
    return Booster(clf, threads)


def draw(rng: np.random.Generator, mask: np.ndarray, n: int, fill: bool = False) -> np.ndarray:
    """Up to ``n`` distinct random flat indices of the true pixels of ``mask``.

    With ``fill``, a non-empty mask with fewer than ``n`` pixels is drawn with replacement
    up to ``n`` (equal class weights without scikit-learn's sample weights, which make
    boosting an order of magnitude slower).
    """
    idx = np.flatnonzero(mask)
    if idx.size > n:
        return idx[rng.choice(idx.size, n, replace=False)]
    if fill and 0 < idx.size < n:
        return idx[rng.integers(0, idx.size, n)]
    return idx


def sample_indices(rng: np.random.Generator, fg: np.ndarray, bg: np.ndarray, per_class: int,
                   balanced: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Draw up to ``per_class`` flat indices from each of two boolean ``(h, w)`` masks.

    ``balanced``: a smaller non-empty class is drawn with replacement up to ``per_class``.

    Returns:
        ``(idx (n,), labels (n,) uint8)`` with label 1 for ``fg`` and 0 for ``bg`` samples.
    """
    i1 = draw(rng, fg, per_class, balanced)
    i0 = draw(rng, bg, per_class, balanced)
    return (np.concatenate([i1, i0]),
            np.concatenate([np.ones(i1.size, np.uint8), np.zeros(i0.size, np.uint8)]))


class AppearanceModel:
    """Object-versus-surroundings pixel classifier with a bounded sample memory.

    Args:
        rounds: boosting iterations.
        max_leaf_nodes: leaves per tree.
        learning_rate: shrinkage of each tree.
        min_samples_leaf: smallest leaf (regularises against memorising the first frame).
        recent_frames: how many recent frames' samples are kept next to the anchors.
        threads: OpenMP threads for fitting and prediction (0: library default).
        seed: random seed of the booster.
        anchor_weight: the anchors enter every fit this many times (1: as often as one
            recent frame's samples).
        library: ``xgboost`` or ``sklearn`` (:func:`fit_booster`).
        l2: L2 penalty on leaf values.
        bins: histogram bins per feature.
    """

    def __init__(self, rounds: int, max_leaf_nodes: int, learning_rate: float,
                 min_samples_leaf: int, recent_frames: int, threads: int = 1,
                 seed: int = 0, anchor_weight: int = 1, library: str = "xgboost",
                 l2: float = 0.0, bins: int = 256) -> None:
        if library not in LIBRARIES:
            raise ValueError(f"unknown boosting library {library!r} "
                             f"(one of {', '.join(LIBRARIES)})")
        self._threads = threads
        self._anchor_weight = max(1, anchor_weight)
        self._library = library
        self._params = dict(rounds=rounds, max_leaf_nodes=max_leaf_nodes,
                            learning_rate=learning_rate, min_samples_leaf=min_samples_leaf,
                            seed=seed, l2=l2, bins=bins)
        self._anchor: tuple[np.ndarray, np.ndarray] | None = None
        self._recent: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=recent_frames)
        self._clf: object | None = None
        # the next classifier: a fit running in the background, or its finished result
        self._pending: Background[Booster] | None = None
        self._next: object | None = None
        self._defer = 0     # predictions the current classifier still answers

    def __getstate__(self) -> dict[str, object]:
        if self._pending is not None:   # a saved model holds the finished fit, not a thread
            pending, self._pending = self._pending, None
            self._next = pending.result()
        return self.__dict__.copy()

    @property
    def fitted(self) -> bool:
        """Whether a classifier is ready for :meth:`predict` (or being fitted for it)."""
        return (self._clf is not None or self._pending is not None
                or getattr(self, "_next", None) is not None)

    def set_anchor(self, x: np.ndarray, y: np.ndarray) -> None:
        """Replace the anchors (``x (n, F)`` float32, ``y (n,)`` 0/1); forget recent samples."""
        self._anchor = (x, y)
        self._recent.clear()

    @property
    def anchor(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The given mask's samples ``(x (n, F), y (n,))``, or None before any."""
        return self._anchor

    def restart(self) -> bool:
        """Forget the recent samples and re-train on the anchors now (waits for a running
        fit); False (model unchanged but for the forgotten samples) if one class lacks."""
        self._join()
        self._recent.clear()
        return self.fit()

    def add_recent(self, x: np.ndarray, y: np.ndarray) -> None:
        """Remember one frame's confident samples (the oldest frame drops out)."""
        if y.size:
            self._recent.append((x, y))

    def train(self, x: np.ndarray, y: np.ndarray) -> Booster:
        """A new classifier fitted on ``x (n, F)``, ``y (n,)`` with this model's settings
        and threads (the model itself is unchanged)."""
        params = dict(self._params)
        if "max_iter" in params:    # a model saved before the XGBoost option
            params = dict(rounds=params["max_iter"], max_leaf_nodes=params["max_leaf_nodes"],
                          learning_rate=params["learning_rate"],
                          min_samples_leaf=params["min_samples_leaf"],
                          seed=params["random_state"])
        return fit_booster(x, y, getattr(self, "_library", "sklearn"), threads=self._threads,
                           **params)

    def _join(self) -> None:
        """Take the next classifier, waiting for its background fit (raises its error)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._next = pending.result()
        if getattr(self, "_next", None) is not None:
            self._clf, self._next = self._next, None
        self._defer = 0

    def fit(self, background: bool = False, defer: int = 0) -> bool:
        """(Re)train on anchors plus recent samples; False (model unchanged) if one class lacks.

        With ``background`` the training runs in a thread and the answers are those of a
        fit made here: the ``defer`` next :meth:`predict` calls still use the previous
        classifier (when there is one) and the one after waits for the new one, so the
        tracker computes the next frames' flow and features in the meantime (the
        results do not depend on the timing).
        """
        self._join()
        weight = getattr(self, "_anchor_weight", 1)
        parts = ([self._anchor] * weight if self._anchor is not None else []) + list(self._recent)
        if not parts:
            return False
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        if y.min() == y.max():
            return False
        if background:
            self._pending = Background(self.train, x, y, name="gazevos-fit")
            self._defer = defer if self._clf is not None else 0
        else:
            self._clf = self.train(x, y)
        return True

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(n,)`` float32 object probability of samples ``x (n, F)``."""
        if getattr(self, "_defer", 0) > 0:
            self._defer -= 1
        else:
            self._join()
        if self._clf is None:
            raise RuntimeError("appearance model used before fit")
        return probability(self._clf, x, self._threads)
