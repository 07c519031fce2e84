"""bench/fusion_cv.py on a tiny synthetic DAVIS folder: the offline late-fusion scores of
weight 1 and 0 equal the online scores of ``classic`` and ``mast`` alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gazevos.config import config_to_dict
from gazevos.eval.davis import evaluate_sequence, summarise
from gazevos.eval.runner import check_sequence, track_sequence
from gazevos.eval.synthetic import make_davis_folder
from gazevos.track import build_tracker
from gazevos.track.fusion import FusionConfig

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fusion_cv.py"


def _bench(*args: str) -> str:
    return subprocess.run([sys.executable, str(BENCH), *args], check=True, text=True,
                          capture_output=True).stdout


def test_offline_late_scores_match_the_trackers_alone(tmp_path: Path) -> None:
    root = make_davis_folder(tmp_path / "davis", {"alpha": 5, "beta": 6}, size=(40, 60))
    store, cache = tmp_path / "store", tmp_path / "cells.jsonl"
    _bench("dump", "--root", str(root), "--store", str(store))
    assert sorted(p.name for p in store.iterdir())[:3] == [
        "alpha.classic.npy", "alpha.frames.json", "alpha.mast.npy"]
    out = _bench("late", "--root", str(root), "--store", str(store), "--cache", str(cache))
    cells = [json.loads(line) for line in cache.read_text().splitlines()]
    assert out.count("J&F") == len(cells) and len(cells) % 2 == 0
    assert all(c["tracker"] == "fusion" and c["offline"] and not c["settings"]["feedback"]
               for c in cells)
    got = {(c["candidate"], c["sequence"]): c["jf"] for c in cells}
    for name, cand in (("classic", "classic-alone"), ("mast", "mast-alone")):
        # the sub-trackers' settings inside the fusion (classic's differ from its defaults)
        sub = config_to_dict(getattr(FusionConfig(), name))
        trk = build_tracker(name, **sub)
        for seq in ("alpha", "beta"):
            source, mask = check_sequence(root, seq)
            res = tmp_path / f"res-{name}"
            (res / seq).mkdir(parents=True)
            track_sequence(trk, source, mask, res / seq)
            row = summarise([evaluate_sequence(root, res, seq)]).per_sequence()
            assert got[(cand, seq)] == pytest.approx(float(row["J&F-Mean"][0]), abs=1e-6)
    # nothing is scored twice
    assert _bench("late", "--root", str(root), "--store", str(store), "--cache",
                  str(cache)) == ""
