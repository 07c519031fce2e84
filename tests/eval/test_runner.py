"""Running trackers over DAVIS-layout sequences: outputs, resume, refusal, cleanup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.eval.davis import GLOBAL_CSV, annotation_files, evaluate_results
from gazevos.eval.runner import run_sequences
from gazevos.eval.synthetic import make_davis_folder
from gazevos.io.masks import read_mask
from gazevos.track import build_tracker
from gazevos.track.baselines import CopyTracker


@pytest.fixture
def davis(tmp_path: Path) -> Path:
    return make_davis_folder(tmp_path / "davis", {"alpha": 5, "beta": 7}, size=(40, 60))


def test_copy_run_writes_every_frame(davis: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    stats = run_sequences(davis, ["alpha", "beta"], lambda: build_tracker("copy"), out,
                          progress=False)
    assert stats.frames == 12 and stats.sequences == ["alpha", "beta"]
    assert stats.fps > 0 and stats.step_fps >= stats.fps
    assert stats.per_sequence["beta"][0] == 7
    for seq, n in (("alpha", 5), ("beta", 7)):
        names = sorted(p.name for p in (out / seq).iterdir())
        assert names == [f"{t:05d}.png" for t in range(n)]
        first = read_mask(annotation_files(davis, seq)[0])
        for p in (out / seq).iterdir():            # copy: the first mask everywhere
            np.testing.assert_array_equal(read_mask(p), first)
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "beta", "manifest.json"]


def test_refuses_non_empty_folder_and_resumes(davis: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    calls: list[int] = []

    def factory() -> CopyTracker:
        calls.append(1)
        return CopyTracker()

    run_sequences(davis, ["alpha"], factory, out, progress=False)
    (out / GLOBAL_CSV).write_text("stale")
    with pytest.raises(GazevosError, match="not empty"):
        run_sequences(davis, ["alpha", "beta"], factory, out, progress=False)
    stats = run_sequences(davis, ["alpha", "beta"], factory, out, resume=True, progress=False)
    assert stats.skipped == ["alpha"] and stats.sequences == ["beta"]
    assert not (out / GLOBAL_CSV).exists()          # scores of changed results are stale
    stats = run_sequences(davis, ["alpha", "beta"], factory, out, resume=True, progress=False)
    assert stats.sequences == [] and stats.frames == 0
    stats = run_sequences(davis, ["alpha", "beta"], factory, out, force=True, progress=False)
    assert stats.sequences == ["alpha", "beta"]
    assert evaluate_results(davis, out, workers=1).summary()["JF_mean"] < 1.0


class _FailingTracker(CopyTracker):
    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        if self.frame_index == 3:
            raise GazevosError("boom")
        return super()._propagate(frame)


def test_failed_sequence_leaves_nothing_half_written(davis: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    with pytest.raises(GazevosError, match="boom"):
        run_sequences(davis, ["alpha", "beta"], _FailingTracker, out, progress=False)
    assert not out.exists()                         # no partial sequence folder
    assert list(tmp_path.glob(".res*")) == []


def test_bad_sequences_are_refused_before_writing(davis: Path, tmp_path: Path) -> None:
    first = annotation_files(davis, "beta")[0]
    first.write_bytes(b"garbage")
    out = tmp_path / "res"
    with pytest.raises(GazevosError) as err:
        run_sequences(davis, ["alpha", "beta"], CopyTracker, out, progress=False)
    assert str(first) in str(err.value)
    assert not out.exists()
