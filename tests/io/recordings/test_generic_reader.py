"""Generic gaze table + video reader."""

from __future__ import annotations

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.io.recordings import read_recording
from gazevos.io.recordings.generic import read_generic


def _folder(tmp_path, builders, table: str, name: str = "gaze.csv"):
    folder = tmp_path / "gen"
    builders.video(folder / "scene.mp4")
    (folder / name).write_text(table)
    return folder


def test_pixel_table_in_a_folder(tmp_path, builders):
    folder = _folder(tmp_path, builders,
                     "Timestamp, X, Y, Confidence\n0.25,10,20,0.5\n0.05,30.5,40,1\n0.5,,,0\n")
    rec = read_recording(folder)
    assert rec.format == "generic" and rec.meta["coords"] == "px"
    np.testing.assert_allclose(rec.gaze["time"], [0.05, 0.25, 0.5])
    np.testing.assert_allclose(rec.gaze["x"].iloc[:2], [30.5, 10.0])
    np.testing.assert_allclose(rec.gaze["confidence"], [1.0, 0.5, 0.0])
    assert np.isnan(rec.gaze["y"].iloc[2])
    np.testing.assert_allclose(rec.frame_times, np.arange(12) / 10, atol=1e-9)


def test_normalised_coordinates_detected_or_stated(tmp_path, builders):
    folder = _folder(tmp_path, builders, "time\tx\ty\n0.1\t0.5\t0.25\n0.2\t1.1\t-0.1\n",
                     name="gaze.tsv")
    rec = read_generic(folder / "gaze.tsv")
    assert rec.meta["coords"] == "norm" and rec.meta["coords_source"] == "detected"
    np.testing.assert_allclose(rec.gaze["x"], [32.0, 1.1 * 64])
    np.testing.assert_allclose(rec.gaze["y"], [12.0, -0.1 * 48])
    assert np.all(rec.gaze["confidence"] == 1.0)
    as_px = read_generic(folder / "gaze.tsv", coords="px")
    np.testing.assert_allclose(as_px.gaze["x"], [0.5, 1.1])


def test_time_unit_and_offset(tmp_path, builders):
    folder = _folder(tmp_path, builders, "timestamp,x,y\n1500,10,10\n")
    rec = read_generic(folder, time_unit="ms", time_offset=-1.0)
    assert rec.gaze["time"].iloc[0] == pytest.approx(0.5)
    with pytest.raises(GazevosError, match="time_unit"):
        read_generic(folder, time_unit="minutes")


def test_table_without_video_needs_resolution(tmp_path):
    table = tmp_path / "g.csv"
    table.write_text("timestamp,x,y\n0.1,0.5,0.5\n")
    with pytest.raises(GazevosError, match="resolution"):
        read_generic(table)
    rec = read_recording(table, resolution=(200, 100))
    assert rec.format == "generic" and (rec.gaze["x"].iloc[0], rec.gaze["y"].iloc[0]) == (
        100.0, 50.0)


def test_text_in_a_number_column_names_row(tmp_path, builders):
    folder = _folder(tmp_path, builders, "timestamp,x,y\n0.1,10,10\n0.2,abc,10\n")
    with pytest.raises(GazevosError, match="'abc' in data row 2"):
        read_generic(folder)
