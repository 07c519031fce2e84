"""bench/cv_leaderboard.py end to end on a tiny synthetic DAVIS folder (copy tracker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gazevos.eval.synthetic import make_davis_folder

BENCH = Path(__file__).resolve().parents[2] / "bench" / "cv_leaderboard.py"


def _bench(*args: str) -> str:
    return subprocess.run([sys.executable, str(BENCH), *args], check=True, text=True,
                          capture_output=True).stdout


def test_run_caches_cells_and_resumes_then_reports(tmp_path: Path) -> None:
    root = make_davis_folder(tmp_path / "davis", {"alpha": 5, "beta": 6}, size=(40, 60))
    cache = tmp_path / "cells.jsonl"
    out = _bench("run", "--trackers", "copy", "--root", str(root), "--cache", str(cache))
    assert out.count("J&F") == 2
    cells = [json.loads(line) for line in cache.read_text().splitlines()]
    assert sorted(c["sequence"] for c in cells) == ["alpha", "beta"]
    assert all(0.0 <= c["jf"] <= 1.0 and c["tracker"] == "copy" and c["base"] == "shipped"
               for c in cells)
    assert _bench("run", "--trackers", "copy", "--root", str(root), "--cache", str(cache)) == ""
    assert len(cache.read_text().splitlines()) == 2  # nothing re-run
    rep = _bench("report", "--trackers", "copy", "--root", str(root), "--cache", str(cache))
    mean = sum(c["jf"] for c in cells) / 2
    assert f"| copy | shipped | 1 | {mean:.3f} | default {mean:.3f} | **{mean:.3f}** |" in rep
