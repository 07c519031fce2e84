"""Agreement with a manual coding (gazevos.gaze.validation) against figures worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gazevos.errors import GazevosError
from gazevos.gaze.validation import (
    agreement,
    parse_name_map,
    read_coding,
    validate_results,
    write_agreement,
)

# ten samples 0.1 s apart (each lasts 0.05 s: the duration cap); sample 6 is invalid
HITS = [("mug", "inside"), ("mug", "inside"), ("mug", "near"), ("", "none"),
        ("book", "inside"), ("book", "inside"), ("", "invalid"), ("book", "inside"),
        ("mug", "inside"), ("", "none")]
IDS = {"mug": 1, "book": 2, "": 0}
CODING = "start,end,object\n0,0.25,Cup\n0.35,0.75,book\n0.75,0.85,Cup\n0.85,1.0,book\n"


def samples() -> pd.DataFrame:
    t = [round(0.1 * i, 10) for i in range(10)]
    return pd.DataFrame({"time": [100.0 + v for v in t], "t": t,
                         "object_id": [IDS[o] for o, _ in HITS], "hit": [h for _, h in HITS],
                         "object": [o for o, _ in HITS]})


def fixations() -> pd.DataFrame:
    return pd.DataFrame({"fixation_id": [1, 2, 3, 4], "start": [100.0, 100.4, 100.8, 100.9],
                         "end": [100.25, 100.75, 100.85, 100.95],
                         "object_id": [1, 2, 1, 0], "hit": ["inside", "inside", "near",
                                                            "invalid"],
                         "object": ["mug", "book", "mug", ""]})


@pytest.fixture
def coding(tmp_path: Path) -> pd.DataFrame:
    (tmp_path / "c.csv").write_text(CODING)
    return read_coding(tmp_path / "c.csv")


def test_samples_kappa_alpha_by_hand(coding: pd.DataFrame) -> None:
    a = agreement(samples(), fixations(), coding, "samples", "tolerant", {"Cup": "mug"})
    # manual m m m N b b b m b / gazevos m m m N b b b m N (sample 6 left out)
    assert a.value("n_items") == 9 and a.value("n_left_out") == 1
    assert a.value("accuracy") == pytest.approx(8 / 9)
    # p_o = 8/9, p_e = (4*4 + 1*2 + 4*3) / 81
    assert a.value("cohen_kappa") == pytest.approx(42 / 51)
    # coincidences: o_mm 8, o_NN 2, o_bb 6, o_bN = o_Nb = 1; n_m 8, n_N 3, n_b 7, n 18
    assert a.value("krippendorff_alpha") == pytest.approx(1 - 17 * 2 / (18**2 - 64 - 9 - 49))
    per = a.per_object.set_index("object")
    assert per.loc["mug", ["precision", "recall"]].tolist() == [1.0, 1.0]
    assert per.loc["book", "precision"] == 1.0 and per.loc["book", "recall"] == 0.75
    assert per.loc["book", "dwell_bias"] == pytest.approx(-0.05)
    assert per.loc["book", "visits_manual"] == 2 and per.loc["book", "visits_gazevos"] == 1
    assert per.loc["mug", "visits_bias"] == 0
    cm = a.confusion.set_index(["manual", "gazevos"])["count"]
    assert cm["book", "(none)"] == 1 and cm["mug", "mug"] == 4 and cm.sum() == 9


def test_strict_mode_counts_near_as_no_object(coding: pd.DataFrame) -> None:
    a = agreement(samples(), fixations(), coding, "samples", "strict", {"Cup": "mug"})
    assert a.value("accuracy") == pytest.approx(7 / 9)


def test_fixation_id_coding_by_hand(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("fixation_id,object\n1,Cup\n2,book\n3,book\n")
    a = agreement(samples(), fixations(), read_coding(tmp_path / "f.csv"), "fixations",
                  name_map={"Cup": "mug"})
    # manual m b b / gazevos m b m; fixation 4 (invalid) left out
    assert a.value("n_items") == 3 and a.value("n_left_out") == 1
    assert a.value("cohen_kappa") == pytest.approx((2 / 3 - 4 / 9) / (1 - 4 / 9))
    # intervals per fixation: each fixation's midpoint falls in a matching interval
    b = agreement(samples(), fixations(), read_coding_text(tmp_path, CODING), "fixations",
                  name_map={"Cup": "mug"})
    assert b.value("cohen_kappa") == pytest.approx(1.0)
    assert b.value("krippendorff_alpha") == pytest.approx(1.0)
    with pytest.raises(GazevosError, match="per fixation"):
        agreement(samples(), fixations(), read_coding(tmp_path / "f.csv"), "samples")


def read_coding_text(tmp_path: Path, text: str) -> pd.DataFrame:
    (tmp_path / "x.csv").write_text(text)
    return read_coding(tmp_path / "x.csv")


def test_bad_codings(tmp_path: Path) -> None:
    for text in ("a,b\n1,2\n", "start,end,object\n1,0.5,mug\n",
                 "fixation_id,object\n1,mug\n1,book\n"):
        with pytest.raises(GazevosError):
            read_coding_text(tmp_path, text)
    with pytest.raises(GazevosError):
        parse_name_map("Cup")
    assert parse_name_map("Cup=mug, Book=book") == {"Cup": "mug", "Book": "book"}


def write_results(folder: Path) -> Path:
    folder.mkdir(parents=True)
    samples().to_csv(folder / "gaze_samples.csv", index=False)
    fixations().to_csv(folder / "fixations.csv", index=False)
    (folder / "summary.json").write_text(json.dumps(
        {"frames": 0, "objects": [{"id": 1, "name": "mug"}, {"id": 2, "name": "book"}]}))
    return folder


def test_validate_results_folder_and_names(tmp_path: Path) -> None:
    res = write_results(tmp_path / "res")
    (tmp_path / "c.csv").write_text(CODING)
    a = validate_results(res, tmp_path / "c.csv", name_map={"Cup": "mug"})
    assert a.value("cohen_kappa") == pytest.approx(42 / 51)
    with pytest.raises(GazevosError, match="Cup"):
        validate_results(res, tmp_path / "c.csv")
    files = write_agreement(a, tmp_path / "v")
    assert {p.name for p in files} >= {"agreement.csv", "confusion.parquet"}
    back = pd.read_csv(tmp_path / "v" / "agreement.csv").set_index("metric")["value"]
    assert back["cohen_kappa"] == pytest.approx(42 / 51)
