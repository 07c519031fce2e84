"""Tobii Pro Glasses 3 reader on small written recordings (gzip JSON lines)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.io.recordings import read_recording
from gazevos.io.recordings.tobii_g3 import read_tobii_g3


def test_gaze_frames_and_intrinsics(tmp_path, builders):
    rec = read_recording(builders.tobii_g3(tmp_path / "g3"))
    assert rec.format == "tobii_g3" and rec.resolution == (64, 48)
    g = rec.gaze  # file order 0.05, 0.31, 0.15, 2.0 -> sorted
    np.testing.assert_allclose(g["time"], [0.05, 0.15, 0.31, 2.0])
    # gaze2d (0.5, 0.25) -> (32, 12); (1.25, -0.5) -> (80, -24) outside; (0, 1) -> (0, 48)
    np.testing.assert_allclose(g["x"].to_numpy()[[0, 1, 3]], [32.0, 80.0, 0.0])
    np.testing.assert_allclose(g["y"].to_numpy()[[0, 1, 3]], [12.0, -24.0, 48.0])
    assert np.isnan(g["x"].iloc[2]) and np.isnan(g["y"].iloc[2])  # "data": {}
    np.testing.assert_array_equal(g["confidence"], [1.0, 1.0, 0.0, 1.0])
    # frame times are the video's own pts: 12 frames at 10 fps
    np.testing.assert_allclose(rec.frame_times, np.arange(12) / 10, atol=1e-9)
    np.testing.assert_array_equal(rec.intrinsics.camera_matrix,
                                  [[50.0, 0.5, 32.0], [0.0, 51.0, 24.5], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(rec.intrinsics.dist_coeffs, [0.1, -0.2, 0.01, -0.02, 0.3])
    assert rec.meta["recording_name"] == "rec1"


def test_truncated_last_line_is_skipped_with_a_note(tmp_path, builders):
    lines = [json.dumps({"type": "gaze", "timestamp": 0.1, "data": {"gaze2d": [0.5, 0.5]}}),
             json.dumps({"type": "syncport", "timestamp": 0.12, "data": {"value": 1}}),
             '{"type": "gaze", "timestamp": 0.2, "data": {"gaze2d": [0.5']
    rec = read_tobii_g3(builders.tobii_g3(tmp_path / "g3", lines=lines))
    assert len(rec.gaze) == 1  # non-gaze line ignored, truncated one skipped
    assert "truncated" in rec.notes[0] and rec.notes[0].startswith("gazedata.gz: ")


def test_damaged_line_inside_the_file_is_an_error(tmp_path, builders):
    lines = [json.dumps({"type": "gaze", "timestamp": 0.1, "data": {}}), "{not json",
             json.dumps({"type": "gaze", "timestamp": 0.2, "data": {}})]
    folder = builders.tobii_g3(tmp_path / "g3", lines=lines)
    with pytest.raises(GazevosError, match="line 2 is not valid JSON") as err:
        read_tobii_g3(folder)
    assert str(err.value).startswith(str(folder / "gazedata.gz"))


def test_not_gzip_is_an_error(tmp_path, builders):
    folder = builders.tobii_g3(tmp_path / "g3")
    (folder / "gazedata.gz").write_text('{"type": "gaze"}\n')
    with pytest.raises(GazevosError, match="gzip"):
        read_tobii_g3(folder)


def test_without_video_resolution_comes_from_calibration(tmp_path, builders):
    rec = read_tobii_g3(builders.tobii_g3(tmp_path / "g3", video=False))
    assert rec.video_path is None and rec.frame_times.shape == (0,)
    assert rec.resolution == (64, 48)
    assert rec.meta["resolution_source"] == "camera calibration in recording.g3"


def test_without_video_or_calibration_needs_resolution(tmp_path, builders):
    folder = builders.tobii_g3(tmp_path / "g3", video=False, calibration=False)
    with pytest.raises(GazevosError, match="resolution"):
        read_tobii_g3(folder)
    rec = read_tobii_g3(folder, resolution=(1920, 1080))
    assert rec.gaze["x"].iloc[0] == pytest.approx(0.5 * 1920)
