"""``gazevos validate`` on the command line: printed figures, tables, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _cli_errors import one_error_line

from gazevos.cli import main

# the hand-made run of tests/gaze/test_validation.py: ten samples 0.1 s apart, sample 6
# invalid; kappa against CODING (Cup = mug) is 42/51 there, worked out by hand
HITS = [("mug", "inside"), ("mug", "inside"), ("mug", "near"), ("", "none"),
        ("book", "inside"), ("book", "inside"), ("", "invalid"), ("book", "inside"),
        ("mug", "inside"), ("", "none")]
IDS = {"mug": 1, "book": 2, "": 0}
CODING = "start,end,object\n0,0.25,Cup\n0.35,0.75,book\n0.75,0.85,Cup\n0.85,1.0,book\n"


def write_results(folder: Path) -> Path:
    folder.mkdir(parents=True)
    t = [round(0.1 * i, 10) for i in range(10)]
    pd.DataFrame({"time": [100.0 + v for v in t], "t": t,
                  "object_id": [IDS[o] for o, _ in HITS], "hit": [h for _, h in HITS],
                  "object": [o for o, _ in HITS]}).to_csv(folder / "gaze_samples.csv",
                                                          index=False)
    pd.DataFrame({"fixation_id": [1, 2, 3], "start": [100.0, 100.4, 100.8],
                  "end": [100.25, 100.75, 100.85], "object_id": [1, 2, 1],
                  "hit": ["inside", "inside", "near"], "object": ["mug", "book", "mug"]}
                 ).to_csv(folder / "fixations.csv", index=False)
    (folder / "summary.json").write_text(json.dumps(
        {"frames": 0, "objects": [{"id": 1, "name": "mug"}, {"id": 2, "name": "book"}]}))
    return folder


def test_validate_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = write_results(tmp_path / "res")
    before = sorted(p.name for p in res.iterdir())
    (tmp_path / "c.csv").write_text(CODING)
    code = main(["validate", str(res), "--manual", str(tmp_path / "c.csv"),
                 "--name-map", "Cup=mug"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "9 samples compared (1 left out)" in out
    assert f"Cohen's kappa {42 / 51:.3f}" in out
    table = pd.read_csv(tmp_path / "res-validation-samples" / "agreement_per_object.csv")
    assert table.set_index("object").loc["book", "recall"] == 0.75
    # the folder is now there: a second run needs --force
    assert main(["validate", str(res), "--manual", str(tmp_path / "c.csv"),
                 "--name-map", "Cup=mug"]) == 2
    assert "--force" in one_error_line(capsys)
    assert main(["validate", str(res), "--manual", str(tmp_path / "c.csv"), "--force",
                 "--name-map", "Cup=mug"]) == 0
    assert sorted(p.name for p in res.iterdir()) == before  # the results are never touched


def test_validate_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = write_results(tmp_path / "res")
    (tmp_path / "c.csv").write_text(CODING)
    assert main(["validate", str(res), "--manual", str(tmp_path / "c.csv")]) == 2
    assert "Cup" in one_error_line(capsys)
    assert main(["validate", str(tmp_path), "--manual", str(tmp_path / "c.csv")]) == 2
    assert "summary.json" in one_error_line(capsys)
    assert main(["validate", str(res), "--manual", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in one_error_line(capsys)
