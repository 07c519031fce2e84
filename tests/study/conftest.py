"""Shared fixture of the study tests: three tiny synthetic recordings."""

from __future__ import annotations

from pathlib import Path

import pytest
from _study_helpers import BOXES, POINTS


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with rec0, rec1, rec2: 160x90, 2-s demo samples (seeds 0, 1, 2)."""
    from gazevos.gaze.demo import make_demo_sample

    root = tmp_path_factory.mktemp("study-recordings")
    for i in range(3):
        s = make_demo_sample(root / f"rec{i}", width=160, height=90, duration=2, seed=i)
        assert list(s.boxes) == BOXES and list(s.points) == POINTS
    return root
