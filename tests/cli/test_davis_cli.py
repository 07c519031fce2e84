"""``gazevos davis run`` / ``davis eval`` end to end on a tiny synthetic DAVIS folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _cli_errors import one_error_line

from gazevos.cli import main
from gazevos.eval.davis import GLOBAL_CSV, PER_SEQUENCE_CSV, SUMMARY_KEYS
from gazevos.eval.synthetic import make_davis_folder
from gazevos.io.masks import write_mask


@pytest.fixture
def davis(tmp_path: Path) -> Path:
    return make_davis_folder(tmp_path / "davis", {"alpha": 5, "beta": 6, "gamma": 4},
                             size=(48, 64))


def test_run_then_eval(davis: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    rc = main(["davis", "run", "--root", str(davis), "--tracker", "flow", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "frames/s" in text and "15 frames" in text
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "beta", "gamma", "manifest.json"]
    assert len(list((out / "beta").glob("*.png"))) == 6

    rc = main(["davis", "eval", "--root", str(davis), "--results", str(out), "--workers", "1"])
    assert rc == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert tuple(summary) == SUMMARY_KEYS
    assert all(0.0 <= summary[k] <= 1.0 for k in ("J_mean", "F_mean", "JF_mean", "J_recall"))
    assert summary["JF_mean"] == pytest.approx((summary["J_mean"] + summary["F_mean"]) / 2)
    g = pd.read_csv(out / GLOBAL_CSV)
    assert g["J&F-Mean"].iloc[0] == pytest.approx(summary["JF_mean"], abs=1e-6)
    assert len(pd.read_csv(out / PER_SEQUENCE_CSV)) == 6           # 3 sequences x 2 objects

    # a second evaluation does not overwrite the tables unless asked to
    rc = main(["davis", "eval", "--root", str(davis), "--results", str(out)])
    assert rc == 2 and "--force" in one_error_line(capsys)
    assert main(["davis", "eval", "--root", str(davis), "--results", str(out), "--force",
                 "--workers", "1"]) == 0


def test_sequence_selection_forms(davis: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    assert main(["davis", "run", "--root", str(davis), "--tracker", "copy", "--out", str(out),
                 "--sequences", "alpha", "gamma"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "gamma", "manifest.json"]
    lst = tmp_path / "list.txt"
    lst.write_text("beta\n")
    assert main(["davis", "run", "--root", str(davis), "--tracker", "copy", "--out", str(out),
                 "--sequences-file", str(lst), "--resume"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "beta", "gamma", "manifest.json"]
    capsys.readouterr()
    assert main(["davis", "eval", "--root", str(davis), "--results", str(out),
                 "--sequences", "beta", "--workers", "1"]) == 0
    assert pd.read_csv(out / PER_SEQUENCE_CSV)["Sequence"].tolist() == ["beta_1", "beta_2"]


def test_run_refuses_non_empty_then_resumes(davis: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    assert main(["davis", "run", "--root", str(davis), "--tracker", "copy", "--out", str(out),
                 "--sequences", "alpha"]) == 0
    capsys.readouterr()
    assert main(["davis", "run", "--root", str(davis), "--tracker", "copy",
                 "--out", str(out)]) == 2
    assert "--force" in one_error_line(capsys)
    assert main(["davis", "run", "--root", str(davis), "--tracker", "copy", "--out", str(out),
                 "--resume"]) == 0
    assert "skipped 1 finished sequence" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["unknown_tracker", "mask_size", "empty_mask", "no_root",
                                  "unknown_sequence", "no_first_mask"])
def test_run_bad_inputs(davis: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        case: str) -> None:
    out = tmp_path / "res"
    args = ["davis", "run", "--root", str(davis), "--tracker", "flow", "--out", str(out)]
    first = davis / "Annotations" / "480p" / "beta" / "00000.png"
    if case == "unknown_tracker":
        args[args.index("flow")] = "nope"
    elif case == "mask_size":
        write_mask(first, np.ones((20, 30), np.uint8))
    elif case == "empty_mask":
        write_mask(first, np.zeros((48, 64), np.uint8))
    elif case == "no_root":
        args[args.index(str(davis))] = str(tmp_path / "missing")
    elif case == "no_first_mask":
        first.unlink()
    else:
        args += ["--sequences", "delta"]
    rc = main(args)
    assert rc != 0
    line = one_error_line(capsys)
    if case in ("mask_size", "empty_mask", "no_first_mask"):
        assert str(first) in line
    assert not out.exists()                                  # nothing half-written


def test_eval_results_missing_frames(davis: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    assert main(["davis", "run", "--root", str(davis), "--tracker", "copy",
                 "--out", str(out)]) == 0
    missing = out / "beta" / "00002.png"
    missing.unlink()
    capsys.readouterr()
    rc = main(["davis", "eval", "--root", str(davis), "--results", str(out)])
    assert rc == 2
    assert str(missing) in one_error_line(capsys)
    assert not (out / GLOBAL_CSV).exists() and not (out / PER_SEQUENCE_CSV).exists()


def test_eval_bad_inputs(davis: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["davis", "eval", "--root", str(davis), "--results",
                 str(tmp_path / "none")]) == 2
    assert "results folder not found" in one_error_line(capsys)
    assert main(["davis", "run", "--root", str(davis), "--tracker", "copy",
                 "--out", str(tmp_path / "r"), "stray"]) == 2
    assert "unexpected argument 'stray'" in one_error_line(capsys)
