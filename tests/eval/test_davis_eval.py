"""Scoring DAVIS-layout result folders: protocol details, known scores and bad results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gazevos.errors import GazevosError
from gazevos.eval.davis import (
    GLOBAL_COLUMNS,
    PER_OBJECT_COLUMNS,
    annotation_files,
    evaluate_results,
    evaluate_sequence,
    read_sequences_file,
    resolve_sequences,
    write_tables,
)
from gazevos.eval.metrics import db_eval_iou
from gazevos.eval.synthetic import make_davis_folder
from gazevos.io.masks import read_mask, write_mask


@pytest.fixture
def davis(tmp_path: Path) -> Path:
    return make_davis_folder(tmp_path / "davis", {"alpha": 6, "beta": 8}, size=(40, 60))


def gt_results(davis: Path, out: Path, transform=lambda t, m, n: m) -> Path:  # noqa: ANN001
    """Write results derived from the ground truth: ``transform(t, labels, n_frames)``."""
    for seq in resolve_sequences(davis):
        files = annotation_files(davis, seq)
        for t, f in enumerate(files):
            write_mask(out / seq / f.name, transform(t, read_mask(f), len(files)))
    return out


def test_perfect_results_score_one(davis: Path, tmp_path: Path) -> None:
    res = gt_results(davis, tmp_path / "res")
    scores = evaluate_results(davis, res, workers=1)
    assert list(scores.global_table.columns) == GLOBAL_COLUMNS
    assert list(scores.per_object.columns) == PER_OBJECT_COLUMNS
    assert scores.per_object["Sequence"].tolist() == ["alpha_1", "alpha_2", "beta_1", "beta_2"]
    s = scores.summary()
    assert s["J_mean"] == s["F_mean"] == s["JF_mean"] == 1.0
    assert s["J_recall"] == s["F_recall"] == 1.0
    assert s["J_decay"] == s["F_decay"] == 0.0
    # first and last annotated frames are not scored
    assert scores.sequences[0].frames == ("00001", "00002", "00003", "00004")
    assert scores.sequences[0].j.shape == (2, 4)


def test_first_and_last_frames_are_not_scored(davis: Path, tmp_path: Path) -> None:
    def blank_ends(t: int, m: np.ndarray, n: int) -> np.ndarray:
        return np.zeros_like(m) if t in (0, n - 1) else m

    res = gt_results(davis, tmp_path / "res", blank_ends)
    assert evaluate_results(davis, res, workers=1).summary()["JF_mean"] == 1.0


def test_missing_object_counts_as_empty(davis: Path, tmp_path: Path) -> None:
    res = gt_results(davis, tmp_path / "res", lambda t, m, n: np.where(m == 2, 0, m))
    scores = evaluate_results(davis, res, workers=1)
    table = scores.per_object.set_index("Sequence")
    assert table.loc["alpha_1", "J-Mean"] == 1.0
    assert table.loc["alpha_2", "J-Mean"] == 0.0       # object 2 visible in every frame
    assert table.loc["alpha_2", "F-Mean"] == 0.0
    assert scores.summary()["J_mean"] == pytest.approx(0.5)


def test_scores_align_with_frames(davis: Path, tmp_path: Path) -> None:
    # result at frame t is the ground truth of frame t - 1: J per frame is their IoU
    prev: dict[str, np.ndarray] = {}

    def previous(t: int, m: np.ndarray, n: int) -> np.ndarray:
        out = prev.get("m", m)
        prev["m"] = m
        return out

    res = gt_results(davis, tmp_path / "res", previous)
    got = evaluate_sequence(davis, res, "beta")
    gts = [read_mask(f) for f in annotation_files(davis, "beta")]
    for k in (1, 2):
        want = [db_eval_iou(gts[t] == k, gts[t - 1] == k) for t in range(1, len(gts) - 1)]
        np.testing.assert_allclose(got.j[k - 1], want)
        assert 0 < min(want) < 1


def test_grey_0_255_masks_are_object_one(tmp_path: Path) -> None:
    davis = make_davis_folder(tmp_path / "d16", {"solo": 5}, size=(40, 60), n_objects=1,
                              grey_annotations=True)
    with Image.open(annotation_files(davis, "solo")[0]) as im:
        assert im.mode == "L"
    res = tmp_path / "res"
    for f in annotation_files(davis, "solo"):     # results as 0/255 grey too
        (res / "solo").mkdir(parents=True, exist_ok=True)
        with Image.open(f) as im:
            im.save(res / "solo" / f.name)
    scores = evaluate_results(davis, res, workers=1)
    assert scores.per_object["Sequence"].tolist() == ["solo_1"]
    assert scores.summary()["JF_mean"] == 1.0


def test_parallel_equals_serial(davis: Path, tmp_path: Path) -> None:
    res = gt_results(davis, tmp_path / "res", lambda t, m, n: np.roll(m, t, axis=1))
    a = evaluate_results(davis, res, workers=1)
    b = evaluate_results(davis, res, workers=2)
    pd.testing.assert_frame_equal(a.per_object, b.per_object)
    assert a.summary()["JF_mean"] < 1.0


@pytest.mark.parametrize("damage", ["missing", "unreadable", "size", "extra_object", "no_seq"])
def test_bad_results_name_the_file(davis: Path, tmp_path: Path, damage: str) -> None:
    res = gt_results(davis, tmp_path / "res")
    target = res / "beta" / "00003.png"
    if damage == "missing":
        target.unlink()
    elif damage == "unreadable":
        target.write_bytes(b"not a png at all")
    elif damage == "size":
        write_mask(target, np.zeros((20, 30), np.uint8))
    elif damage == "extra_object":
        write_mask(target, np.full((40, 60), 3, np.uint8))
    else:
        for f in (res / "beta").iterdir():
            f.unlink()
        (res / "beta").rmdir()
        target = res / "beta"
    with pytest.raises(GazevosError) as err:
        evaluate_results(davis, res, workers=1)
    assert str(target) in str(err.value)
    assert "\n" not in str(err.value)


def test_void_in_results_is_background(davis: Path, tmp_path: Path) -> None:
    res = gt_results(davis, tmp_path / "res", lambda t, m, n: np.where(m == 0, 255, m))
    assert evaluate_results(davis, res, workers=1).summary()["JF_mean"] == 1.0


def test_sequence_selection(davis: Path, tmp_path: Path) -> None:
    assert resolve_sequences(davis) == ["alpha", "beta"]           # ImageSets/dev.txt
    assert resolve_sequences(davis, ["beta"]) == ["beta"]
    lst = tmp_path / "seqs.txt"
    lst.write_text("# comment\n\nbeta  # trailing\nalpha\n")
    assert read_sequences_file(lst) == ["beta", "alpha"]
    assert resolve_sequences(davis, sequences_file=lst) == ["beta", "alpha"]
    (davis / "ImageSets" / "dev.txt").unlink()
    assert resolve_sequences(davis) == ["alpha", "beta"]           # every frame folder
    with pytest.raises(GazevosError, match="unknown sequence 'gamma'"):
        resolve_sequences(davis, ["gamma"])
    with pytest.raises(GazevosError, match="not a DAVIS folder"):
        resolve_sequences(tmp_path / "nowhere")
    with pytest.raises(GazevosError, match="not both"):
        resolve_sequences(davis, ["alpha"], lst)


def test_tables_written_atomically_and_not_overwritten(davis: Path, tmp_path: Path) -> None:
    res = gt_results(davis, tmp_path / "res", lambda t, m, n: np.roll(m, 2 * t, axis=0))
    scores = evaluate_results(davis, res, workers=1)
    g, p = write_tables(scores, res)
    table = pd.read_csv(g)
    assert table["J-Mean"].iloc[0] == pytest.approx(scores.summary()["J_mean"], abs=1e-6)
    assert len(pd.read_csv(p)) == 4
    assert not [f for f in res.iterdir() if f.name.startswith(".")]
    with pytest.raises(GazevosError, match="--force"):
        write_tables(scores, res)
    write_tables(scores, res, force=True)
    json.dumps(scores.summary())  # plain floats
