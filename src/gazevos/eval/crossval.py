"""Choose a setting by cross-validation over sequences and score it on sequences it never saw.

Given a score per candidate setting and sequence (e.g. the DAVIS J&F of each sequence under
each tracker setting), :func:`cross_validate` repeats, for every fold (a set of held-out
sequences): pick the candidate with the best mean score on the *other* sequences (the
tuning sequences), then record that candidate's scores on the held-out sequences.  The
cross-validated score is the mean over all held-out sequences (each sequence is held out
exactly once), i.e. a sequence mean, as the DAVIS protocol averages one object per
sequence on DAVIS-2016.  It estimates what the whole procedure "tune on the dev split, then
run on new video" scores, where the best candidate's all-sequence mean is optimistic.

No I/O here: the bench (``bench/cv_leaderboard.py``) collects the scores.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    """One fold of a cross-validation.

    Attributes:
        held_out: the sequences scored in this fold.
        chosen: the candidate with the best mean over the tuning sequences.
        tuning_mean: that mean (the chosen candidate's score on the tuning sequences).
        held_out_scores: the chosen candidate's score on each held-out sequence.
    """

    held_out: tuple[str, ...]
    chosen: Hashable
    tuning_mean: float
    held_out_scores: dict[str, float]


@dataclass(frozen=True)
class CrossValidation:
    """Result of :func:`cross_validate`.

    Attributes:
        folds: one :class:`Fold` per fold, in the order given.
        per_sequence: held-out score of every sequence (by the candidate chosen without it).
    """

    folds: tuple[Fold, ...]
    per_sequence: dict[str, float]

    @property
    def score(self) -> float:
        """Cross-validated score: mean of :attr:`per_sequence` over the sequences."""
        return _mean(self.per_sequence.values())

    def chosen_counts(self) -> Counter:
        """How many folds chose each candidate."""
        return Counter(f.chosen for f in self.folds)


def _mean(values: object) -> float:
    vals = list(values)  # type: ignore[call-overload]
    return math.fsum(vals) / len(vals)


def leave_one_out(sequences: Sequence[str]) -> list[tuple[str, ...]]:
    """Folds holding out one sequence each, in the order given."""
    return [(s,) for s in sequences]


def k_folds(sequences: Sequence[str], k: int, seed: int = 0) -> list[tuple[str, ...]]:
    """``k`` folds of near-equal size: the sequences shuffled by ``seed`` (NumPy
    ``default_rng``), then dealt round-robin (fold ``i`` holds positions ``i, i+k, ...``).

    Raises:
        ValueError: ``k`` is not between 2 and the number of sequences.
    """
    if not 2 <= k <= len(sequences):
        raise ValueError(f"k = {k} folds needs 2 <= k <= {len(sequences)} (the sequences)")
    order = np.random.default_rng(seed).permutation(len(sequences))
    shuffled = [sequences[i] for i in order]
    return [tuple(shuffled[i::k]) for i in range(k)]


def best_candidate(scores: Mapping[Hashable, Mapping[str, float]], sequences: Sequence[str],
                   tolerance: float = 0.0) -> tuple[Hashable, float]:
    """The candidate with the highest mean score over ``sequences``, and that mean.

    Ties are broken deterministically: among the candidates whose mean is within
    ``tolerance`` of the best mean, the one that comes first in ``scores`` wins (list the
    current default first to keep it unless another candidate is better by more than
    ``tolerance``).
    """
    means = {c: _mean(per_seq[s] for s in sequences) for c, per_seq in scores.items()}
    top = max(means.values())
    for c, m in means.items():
        if m >= top - tolerance:
            return c, m
    raise AssertionError("unreachable")  # pragma: no cover


def cross_validate(scores: Mapping[Hashable, Mapping[str, float]],
                   folds: Sequence[Sequence[str]], tolerance: float = 0.0) -> CrossValidation:
    """Cross-validate the choice among candidate settings.

    Args:
        scores: ``{candidate: {sequence: score}}``; every candidate must have a score for
            every sequence of every fold.  Iteration order of the candidates breaks ties
            (first wins, see :func:`best_candidate`).
        folds: the held-out sequences of each fold; the folds must be disjoint and
            non-empty, and together they are the sequences used.  Each fold's tuning
            sequences are all the others.
        tolerance: means within this of the best tuning mean count as ties.

    Returns:
        The :class:`CrossValidation`: chosen candidate and held-out scores per fold, and
        the held-out score of every sequence.

    Raises:
        ValueError: no candidates, an empty or overlapping fold, a single fold (nothing
            left to tune on), or a candidate without a score for some sequence.
    """
    if not scores:
        raise ValueError("no candidates")
    folds = [tuple(f) for f in folds]
    if len(folds) < 2:
        raise ValueError("cross-validation needs at least two folds")
    sequences: list[str] = []
    for f in folds:
        if not f:
            raise ValueError("empty fold")
        for s in f:
            if s in sequences:
                raise ValueError(f"sequence '{s}' is in more than one fold (or twice in one)")
            sequences.append(s)
    for c, per_seq in scores.items():
        missing = [s for s in sequences if s not in per_seq]
        if missing:
            raise ValueError(f"candidate {c!r} has no score for {', '.join(missing)}")
    out: list[Fold] = []
    per_sequence: dict[str, float] = {}
    for f in folds:
        tuning = [s for s in sequences if s not in f]
        chosen, tuning_mean = best_candidate(scores, tuning, tolerance)
        held = {s: float(scores[chosen][s]) for s in f}
        per_sequence.update(held)
        out.append(Fold(f, chosen, tuning_mean, held))
    return CrossValidation(tuple(out), {s: per_sequence[s] for s in sequences})
