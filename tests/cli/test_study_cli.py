"""``gazevos study`` on the command line: summary lines, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _cli_errors import one_error_line

from gazevos.cli import main


def test_study_cli_serial_rerun_and_failure(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from gazevos.gaze.demo import make_demo_sample

    s = make_demo_sample(tmp_path / "rec", width=160, height=90, duration=2)
    study = tmp_path / "study.yaml"
    study.write_text(
        "settings: {tracker: flow, video: false}\n"
        f"defaults: {{boxes: {list(s.boxes)}}}\n"
        "recordings:\n"
        "  - {path: rec, participant: p1, condition: A}\n"
        "  - {path: rec, participant: p2, condition: B, boxes: ['mug:150,30,400,65@0']}\n")
    out = tmp_path / "out"
    code = main(["study", str(study), "--out", str(out), "--serial", "-q"])
    captured = capsys.readouterr()
    assert code == 2  # one recording failed
    assert "1 recordings annotated, 0 skipped (unchanged), 1 failed" in captured.out
    failed = [line for line in captured.err.splitlines() if line.startswith("failed: ")]
    assert captured.err.strip().splitlines()[-1].startswith("gazevos: error: ")
    assert "1 of 2 recordings failed" in captured.err
    assert len(failed) == 1 and failed[0].startswith("failed: p2: ") and "mug" in failed[0]
    assert (out / "report.html").is_file()
    rec = pd.read_csv(out / "tables" / "recordings.csv")
    assert rec["status"].tolist() == ["done", "failed"]
    # the good one is skipped on a rerun
    code = main(["study", str(study), "--out", str(out), "--serial", "-q"])
    assert "0 recordings annotated, 1 skipped (unchanged), 1 failed" in capsys.readouterr().out
    # --force redoes the good one from scratch (no masks reused)
    main(["study", str(study), "--out", str(out), "--serial", "-q", "--force"])
    assert "1 recordings annotated, 0 skipped" in capsys.readouterr().out
    summary = json.loads((out / "recordings" / "p1" / "summary.json").read_text())
    assert summary["tracking_resumed"] is False
    assert len((out / "logs" / "p1.attempts").read_text().splitlines()) == 2


def test_study_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in one_error_line(capsys)
    (tmp_path / "s.yaml").write_text("recordings:\n  - {studio: proj}\n")
    assert main(["study", str(tmp_path / "s.yaml")]) == 2
    assert "not a gazevos studio project" in one_error_line(capsys)
