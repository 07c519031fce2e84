"""Choosing a setting by cross-validation over sequences (gazevos.eval.crossval)."""

from __future__ import annotations

import pytest

from gazevos.eval.crossval import best_candidate, cross_validate, k_folds, leave_one_out

# Hand-made example: "b" is best on average over a, b, c, d (0.55 vs 0.5 vs 0.45) only
# because of sequence d, so whenever d is held out, "a" wins the tuning mean.
SCORES = {
    "a": {"s1": 0.6, "s2": 0.6, "s3": 0.6, "s4": 0.2},
    "b": {"s1": 0.5, "s2": 0.5, "s3": 0.5, "s4": 0.7},
    "c": {"s1": 0.4, "s2": 0.4, "s3": 0.4, "s4": 0.6},
}
SEQS = ["s1", "s2", "s3", "s4"]


def test_leave_one_out_by_hand() -> None:
    cv = cross_validate(SCORES, leave_one_out(SEQS))
    # holding out s1: tuning means on s2, s3, s4: a 0.4667, b 0.5667, c 0.4667 -> b, scores 0.5
    # s2, s3 likewise -> b (0.5 each); holding out s4: a 0.6, b 0.5, c 0.4 -> a, scores 0.2
    assert [f.chosen for f in cv.folds] == ["b", "b", "b", "a"]
    assert cv.per_sequence == {"s1": 0.5, "s2": 0.5, "s3": 0.5, "s4": 0.2}
    assert cv.score == pytest.approx(0.425)
    assert cv.folds[0].tuning_mean == pytest.approx(1.7 / 3)
    assert cv.folds[3].tuning_mean == pytest.approx(0.6)
    assert cv.folds[3].held_out_scores == {"s4": 0.2}
    assert cv.chosen_counts() == {"b": 3, "a": 1}
    # the optimistic figure: the best candidate's all-sequence mean (b, 0.55) > 0.425


def test_two_folds_by_hand() -> None:
    cv = cross_validate(SCORES, [("s1", "s4"), ("s2", "s3")])
    # tune on s2, s3: a 0.6 best -> s1 0.6, s4 0.2; tune on s1, s4: a 0.4, b 0.6, c 0.5 -> b
    assert [f.chosen for f in cv.folds] == ["a", "b"]
    assert cv.per_sequence == {"s1": 0.6, "s4": 0.2, "s2": 0.5, "s3": 0.5}
    assert cv.score == pytest.approx(0.45)


def test_ties_go_to_the_first_candidate() -> None:
    tie = {"x": {"s1": 0.5, "s2": 0.3}, "y": {"s1": 0.3, "s2": 0.5}}
    assert best_candidate(tie, ["s1", "s2"]) == ("x", pytest.approx(0.4))
    flipped = {"y": tie["y"], "x": tie["x"]}
    assert best_candidate(flipped, ["s1", "s2"])[0] == "y"
    # sums that differ only by rounding order are still exact ties (fsum)
    vals = {"p": {"s1": 0.1, "s2": 0.2, "s3": 0.3}, "q": {"s1": 0.3, "s2": 0.2, "s3": 0.1}}
    assert best_candidate(vals, ["s1", "s2", "s3"])[0] == "p"
    assert best_candidate({"q": vals["q"], "p": vals["p"]}, ["s1", "s2", "s3"])[0] == "q"


def test_tolerance_keeps_the_first_candidate() -> None:
    scores = {"default": {"s1": 0.50, "s2": 0.50}, "other": {"s1": 0.51, "s2": 0.50}}
    assert best_candidate(scores, ["s1", "s2"])[0] == "other"
    assert best_candidate(scores, ["s1", "s2"], tolerance=0.01)[0] == "default"
    cv = cross_validate(scores, leave_one_out(["s1", "s2"]), tolerance=0.01)
    assert [f.chosen for f in cv.folds] == ["default", "default"]


def test_k_folds_deterministic_partition() -> None:
    seqs = [f"s{i}" for i in range(10)]
    folds = k_folds(seqs, 5, seed=0)
    assert folds == k_folds(seqs, 5, seed=0)
    assert folds != k_folds(seqs, 5, seed=1)
    assert [len(f) for f in folds] == [2] * 5
    assert sorted(s for f in folds for s in f) == sorted(seqs)
    assert [len(f) for f in k_folds(seqs[:7], 3)] == [3, 2, 2]
    with pytest.raises(ValueError):
        k_folds(seqs, 1)
    with pytest.raises(ValueError):
        k_folds(seqs, 11)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="no candidates"):
        cross_validate({}, leave_one_out(SEQS))
    with pytest.raises(ValueError, match="two folds"):
        cross_validate(SCORES, [tuple(SEQS)])
    with pytest.raises(ValueError, match="more than one fold"):
        cross_validate(SCORES, [("s1", "s2"), ("s2", "s3")])
    with pytest.raises(ValueError, match="empty fold"):
        cross_validate(SCORES, [("s1",), ()])
    with pytest.raises(ValueError, match="no score for s9"):
        cross_validate(SCORES, [("s1",), ("s9",)])
