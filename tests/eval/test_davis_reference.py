"""The evaluator reproduces the official DAVIS scores of the copy-first baseline (shared data)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gazevos.eval.davis import evaluate_results, resolve_sequences
from gazevos.eval.runner import run_sequences
from gazevos.track import build_tracker


@pytest.mark.shared
def test_copy_first_matches_official_reference(davis_dev: Path, tmp_path: Path) -> None:
    ref = json.loads((davis_dev / "reference_copy_first_scores.json").read_text())
    names = resolve_sequences(davis_dev)
    assert sorted(names) == sorted(ref["per_sequence"])
    stats = run_sequences(davis_dev, names, lambda: build_tracker("copy"), tmp_path / "res",
                          progress=False)
    assert stats.frames == 702
    t0 = time.perf_counter()
    scores = evaluate_results(davis_dev, tmp_path / "res")
    elapsed = time.perf_counter() - t0
    got = scores.summary()
    for key, want in ref["global"].items():
        assert got[key] == pytest.approx(want, abs=1e-4), key
    per_seq = scores.per_sequence().set_index("Sequence")
    for seq, want in ref["per_sequence"].items():
        assert per_seq.loc[seq, "J-Mean"] == pytest.approx(want["J_mean"], abs=1e-4), seq
        assert per_seq.loc[seq, "F-Mean"] == pytest.approx(want["F_mean"], abs=1e-4), seq
    assert elapsed < 30, f"evaluating the dev split took {elapsed:.1f} s"
