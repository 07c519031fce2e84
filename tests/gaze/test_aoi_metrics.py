"""AOI metrics and transitions, hand-computed on a tiny sequence; table writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gazevos.errors import GazevosError
from gazevos.gaze.metrics import (
    AOI_COLUMNS,
    aoi_metrics,
    sample_durations,
    transition_matrix,
    transitions_long,
    write_table,
    write_tables,
)


def samples() -> pd.DataFrame:
    return pd.DataFrame({
        "time": [0.0, 0.01, 0.02, 0.03, 0.05, 0.06, 0.07, 0.20],
        "object_id": [1, 1, 2, 0, 1, 0, 2, 2],
        "hit": ["inside", "near", "inside", "none", "inside", "invalid", "near", "inside"],
    })


def fixations() -> pd.DataFrame:
    start = [0.0, 0.15, 0.40, 0.55, 0.65, 1.0, 1.2]
    end = [0.1, 0.35, 0.50, 0.60, 0.95, 1.1, 1.4]
    return pd.DataFrame({
        "fixation_id": range(1, 8), "start": start, "end": end,
        "duration": np.subtract(end, start),
        "object_id": [1, 1, 2, 0, 1, 0, 1],
        "hit": ["inside", "near", "inside", "invalid", "inside", "none", "inside"],
    })


def test_sample_durations_capped() -> None:
    d = sample_durations(samples().time.to_numpy(), 0.05)
    np.testing.assert_allclose(d, [0.01, 0.01, 0.01, 0.02, 0.01, 0.01, 0.05, 0.01])


def test_aoi_metrics_hand_computed() -> None:
    m = aoi_metrics(samples(), fixations(), t0=-0.5, object_ids=[1, 2, 3]).set_index("object_id")
    assert list(m.reset_index().columns) == list(AOI_COLUMNS)
    assert m.index.tolist() == [0, 1, 2, 3]
    # dwell: object 1 = samples 0, 1, 4; object 2 = 2, 6 (capped 0.13 -> 0.05), 7 (median)
    np.testing.assert_allclose(m.dwell_time, [0.02, 0.03, 0.07, 0.0])
    assert m.n_samples.tolist() == [1, 3, 3, 0]
    assert m.n_fixations.tolist() == [1, 4, 1, 0]
    np.testing.assert_allclose(m.total_fixation_duration, [0.1, 0.8, 0.1, 0.0])
    np.testing.assert_allclose(m.mean_fixation_duration.iloc[:3], [0.1, 0.2, 0.1])
    np.testing.assert_allclose(m.time_to_first_fixation.iloc[:3], [1.5, 0.5, 0.9])
    np.testing.assert_allclose(m.first_fixation_duration.iloc[:3], [0.1, 0.1, 0.1])
    assert np.isnan(m.time_to_first_fixation.loc[3]) and np.isnan(m.mean_fixation_duration.loc[3])
    # visits (invalid fixation 4 skipped): 1 1 | 2 | 1 | 0 | 1
    assert m.n_visits.tolist() == [1, 3, 1, 0]
    assert m.n_revisits.tolist() == [0, 2, 0, 0]
    np.testing.assert_allclose(m.total_visit_duration, [0.1, 0.85, 0.1, 0.0])


def test_aoi_default_origin_and_no_background() -> None:
    from gazevos.gaze.metrics import MetricsConfig

    m = aoi_metrics(samples(), fixations(), config=MetricsConfig(include_background=False))
    assert m.object_id.tolist() == [1, 2]
    np.testing.assert_allclose(m.time_to_first_fixation, [0.0, 0.4])


def test_transitions() -> None:
    t = transition_matrix(fixations())
    expect = np.zeros((3, 3), int)
    expect[1, 1] = expect[1, 2] = expect[2, 1] = expect[1, 0] = expect[0, 1] = 1
    np.testing.assert_array_equal(t.to_numpy(), expect)
    assert t.index.name == "from_object" and t.columns.tolist() == [0, 1, 2]
    t2 = transition_matrix(fixations(), object_ids=[1, 2, 5], include_background=False)
    assert t2.index.tolist() == [1, 2, 5]
    np.testing.assert_array_equal(t2.to_numpy(), [[2, 1, 0], [1, 0, 0], [0, 0, 0]])
    long = transitions_long(t2)
    assert long.to_dict("records") == [{"from_object": 1, "to_object": 1, "count": 2},
                                       {"from_object": 1, "to_object": 2, "count": 1},
                                       {"from_object": 2, "to_object": 1, "count": 1}]


def test_needs_mapped_fixations() -> None:
    with pytest.raises(GazevosError, match="object_id"):
        aoi_metrics(samples(), fixations().drop(columns="object_id"))


def test_writers_round_trip(tmp_path: Path) -> None:
    m = aoi_metrics(samples(), fixations(), t0=-0.5)
    files = write_table(m, tmp_path / "aoi.csv")
    assert [f.name for f in files] == ["aoi.csv", "aoi.parquet"]
    pd.testing.assert_frame_equal(pd.read_csv(files[0]), m, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(files[1]), m)
    t = transition_matrix(fixations())
    out = write_tables(tmp_path / "sub", {"transitions": t})
    back = pd.read_parquet(out[1])
    assert back.columns.tolist() == ["from_object", "0", "1", "2"]
    assert back["1"].tolist() == [1, 1, 1]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["transitions.csv",
                                                                   "transitions.parquet"]
    with pytest.raises(GazevosError, match="format"):
        write_table(m, tmp_path / "x", formats=("xlsx",))
