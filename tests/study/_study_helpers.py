"""Helpers of the study tests: a study file of the three tiny recordings, output comparison."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

BOXES = ["mug:18,30,46,65@0", "book:78,44,120,76@0"]
POINTS = ["ball:136,39@27"]


def write_study(folder: Path, recordings: Path, extra: str = "", entries: str | None = None,
                points: list[str] | None = None) -> Path:
    """A study file of the three recordings (conditions A, A, B) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    pts = points if points is not None else POINTS
    entries = entries if entries is not None else (
        f"  - {{path: {recordings}/rec0, participant: p1, condition: A}}\n"
        f"  - {{path: {recordings}/rec1, participant: p2, condition: A}}\n"
        f"  - {{path: {recordings}/rec2, participant: p3, condition: B}}\n")
    text = ("name: tiny\ngroup_by: [condition]\n"
            "settings: {tracker: flow, video: false}\n"
            f"defaults:\n  boxes: {BOXES}\n  points: {pts}\n" + extra
            + "recordings:\n" + entries)
    path = folder / "study.yaml"
    path.write_text(text)
    return path


def assert_same_outputs(a: Path, b: Path, ids: tuple[str, ...] = ("p1", "p2", "p3")) -> None:
    """Two study output folders hold the same tables and masks."""
    for name in ("study_aoi_metrics", "study_visits", "study_transitions", "group_metrics",
                 "group_reach"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / "tables" / f"{name}.parquet"),
                                      pd.read_parquet(b / "tables" / f"{name}.parquet"))
    for rid in ids:
        for stem in ("gaze_samples", "fixations", "metrics"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(a / "recordings" / rid / f"{stem}.parquet"),
                pd.read_parquet(b / "recordings" / rid / f"{stem}.parquet"))
        ma = sorted((a / "recordings" / rid / "masks").iterdir())
        mb = sorted((b / "recordings" / rid / "masks").iterdir())
        assert [p.name for p in ma] == [p.name for p in mb] and len(ma) == 60
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(ma, mb, strict=True))
