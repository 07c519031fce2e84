"""AOI tables from an annotate output folder, checked against annotate's own metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gazevos.errors import GazevosError
from gazevos.gaze.aoi_tables import (
    TABLES,
    estimate_frame_times,
    read_table,
    recording_tables,
    write_recording_tables,
)


@pytest.fixture(scope="module")
def annotated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    from gazevos.gaze.annotate import AnnotateConfig, annotate
    from gazevos.gaze.demo import make_demo_sample
    from gazevos.gaze.prompts import build_prompts
    from gazevos.io.recordings import read_recording

    root = tmp_path_factory.mktemp("aoi")
    s = make_demo_sample(root / "rec", width=160, height=90, duration=2)
    annotate(s.root, build_prompts(boxes=s.boxes, points=s.points), root / "out",
             tracker="flow", config=AnnotateConfig(video=False), progress=False)
    return root / "out", read_recording(s.root).frame_times


def test_tables_agree_with_annotate_metrics(annotated: tuple[Path, np.ndarray],
                                            tmp_path: Path) -> None:
    out, frame_times = annotated
    t = recording_tables(out, frame_times)
    assert set(t) == set(TABLES)
    old = read_table(out, "metrics").set_index("object")
    m = t["aoi_metrics"]
    tol = m[m["mode"] == "tolerant"].pivot(index="object", columns="metric", values="value")
    for name in ("mug", "book", "ball"):
        # annotate's dwell counts inside + near samples: the tolerant dwell
        assert tol.loc[name, "dwell_time"] == pytest.approx(old.loc[name, "dwell_time"])
        assert tol.loc[name, "n_fixations"] == old.loc[name, "n_fixations"]
        assert tol.loc[name, "time_to_first_fixation"] == pytest.approx(
            old.loc[name, "time_to_first_fixation"])
        assert tol.loc[name, "n_visits"] <= old.loc[name, "n_visits"]
    strict = m[m["mode"] == "strict"].pivot(index="object", columns="metric", values="value")
    assert (strict["dwell_time"] <= tol["dwell_time"] + 1e-12).all()
    # the ball is given on frame 27: not started before, visible from there on this sample
    st = t["object_states"]
    ball = st[st["object"] == "ball"]
    assert (ball["frame"][ball["state"] == "not_started"] < 27).all()
    assert tol.loc["ball", "first_visible_s"] == pytest.approx(frame_times[27] - frame_times[0])
    assert (tol["visible_time"] <= frame_times[-1] - frame_times[0] + 0.05).all()
    # the transitions' probabilities sum to one per origin
    sums = t["aoi_transitions"].groupby("from_object")["probability"].sum()
    assert np.allclose(sums, 1.0)
    # round trip through CSV + Parquet
    write_recording_tables(t, tmp_path / "aoi")
    back = read_table(tmp_path / "aoi", "aoi_metrics")
    pd.testing.assert_frame_equal(back, t["aoi_metrics"].reset_index(drop=True),
                                  check_dtype=False)


def test_frame_times_estimated_within_a_sample(annotated: tuple[Path, np.ndarray]) -> None:
    out, frame_times = annotated
    samples = read_table(out, "gaze_samples")
    est = estimate_frame_times(samples, len(frame_times))
    assert np.max(np.abs(est - frame_times)) < 0.006  # 200 Hz gaze: within one sample


def test_mask_stats_reader_remembers_what_it_read(tmp_path):
    from gazevos.gaze.aoi import mask_stats
    from gazevos.gaze.aoi_tables import MaskStatsReader
    from gazevos.io import write_mask

    maps = []
    for i in range(3):
        lm = np.zeros((6, 8), np.uint8)
        lm[1:3, i:i + 2] = 1
        lm[4:, 6:] = 2 if i != 1 else 0
        write_mask(tmp_path / f"{i:05d}.png", lm)
        maps.append(lm)
    reader = MaskStatsReader(tmp_path, [2, 1])
    np.testing.assert_array_equal(reader(2), maps[2])
    assert reader(7) is None
    for i in (2, 0, 1):        # 2 from the read above, 0 and 1 read now
        area, touch = reader.stats(i)
        want = mask_stats(maps[i], [1, 2], 1)
        np.testing.assert_array_equal(area, want[0])
        np.testing.assert_array_equal(touch, want[1])
    assert list(reader.stats(0)[0]) == [4, 4]   # read again after being handed out
    with pytest.raises(GazevosError, match="frame 5"):
        reader.stats(5)


def test_mask_stats_reader_reading_ahead_gives_the_same_labels_and_stats(tmp_path):
    from gazevos.gaze.aoi import mask_stats
    from gazevos.gaze.aoi_tables import MaskStatsReader
    from gazevos.io import write_mask

    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 3, (5, 7)).astype(np.uint8) for _ in range(9)]
    for i, lm in enumerate(maps):
        write_mask(tmp_path / f"{i:05d}.png", lm)
    reader = MaskStatsReader(tmp_path, [1, 2], n_frames=9)
    try:
        for i in (0, 3, 4, 8, 2):           # increasing, then one already passed
            np.testing.assert_array_equal(reader(i), maps[i])
        for i in range(9):                  # stats of skipped frames came with the read-ahead
            np.testing.assert_array_equal(reader.stats(i)[0], mask_stats(maps[i], [1, 2])[0])
    finally:
        reader.close()
    assert reader._ahead is None


def test_mask_stats_reader_reads_ahead_in_order_past_its_window_and_a_gap(tmp_path):
    """Two reading threads, at most eight frames ahead: 20 frames come back in order, each
    its own, and a missing mask is None (its stats absent)."""
    from gazevos.gaze.aoi_tables import MaskStatsReader
    from gazevos.io import write_mask

    maps = [np.full((4, 6), i % 3, np.uint8) for i in range(20)]
    for i, lm in enumerate(maps):
        lm[0, 0] = i            # each map tells its index
        if i != 11:
            write_mask(tmp_path / f"{i:05d}.png", lm)
    reader = MaskStatsReader(tmp_path, [1, 2], n_frames=20)
    try:
        for i in range(20):
            got = reader(i)
            if i == 11:
                assert got is None
            else:
                np.testing.assert_array_equal(got, maps[i])
        with pytest.raises(GazevosError, match="missing"):
            reader.stats(11)
    finally:
        reader.close()
