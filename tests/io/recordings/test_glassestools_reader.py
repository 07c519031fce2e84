"""glassesTools common-format reader on small written folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.io.recordings import read_recording
from gazevos.io.recordings.glassestools import read_glassestools


def test_values_times_in_seconds_and_calibration(tmp_path, builders):
    rec = read_recording(builders.glassestools(tmp_path / "gt"))
    assert rec.format == "glassestools" and rec.resolution == (64, 48)
    assert rec.video_path.name == "worldCamera.mp4"
    # ms -> s, the frame_idx -1 row ignored
    np.testing.assert_allclose(rec.frame_times, (np.arange(12) * 100.0 + 20.0) / 1000.0)
    g = rec.gaze
    np.testing.assert_allclose(g["time"], [0.010, 0.125, 0.250])
    np.testing.assert_allclose(g["x"].to_numpy()[[0, 2]], [5.0, 12.5])
    np.testing.assert_allclose(g["y"].to_numpy()[[0, 2]], [6.0, 40.0])
    assert np.isnan(g["x"].iloc[1])
    np.testing.assert_array_equal(g["confidence"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(rec.intrinsics.camera_matrix,
                               [[55.0, 0.0, 31.5], [0.0, 56.0, 23.5], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(rec.intrinsics.dist_coeffs, [0.1, -0.1, 0.001, 0.002, 0.05])
    assert rec.intrinsics.resolution == (64, 48)


def test_video_found_through_recording_info(tmp_path, builders):
    folder = builders.glassestools(tmp_path / "gt")
    source = tmp_path / "source"
    source.mkdir()
    shutil.move(folder / "worldCamera.mp4", source / "scenevideo.mp4")
    (folder / "recording_info.json").write_text(json.dumps(
        {"name": "r", "scene_video_file": "scenevideo.mp4",
         "source_directory": {"pathlib.Path": "../source"}}))
    rec = read_glassestools(folder)
    assert rec.video_path.resolve() == (source / "scenevideo.mp4").resolve()


def test_without_video_resolution_from_calibration(tmp_path, builders):
    rec = read_glassestools(builders.glassestools(tmp_path / "gt", video=False))
    assert rec.video_path is None and rec.resolution == (64, 48)
    assert rec.meta["resolution_source"] == "calibration.xml"


def test_frame_index_gap_is_an_error(tmp_path, builders):
    folder = builders.glassestools(tmp_path / "gt")
    (folder / "frameTimestamps.tsv").write_text("frame_idx\ttimestamp\n0\t0.0\n2\t66.0\n")
    with pytest.raises(GazevosError, match="without gaps"):
        read_glassestools(folder)


def test_missing_gaze_column_lists_what_was_found(tmp_path, builders):
    folder = builders.glassestools(tmp_path / "gt")
    (folder / "gazeData.tsv").write_text("timestamp\tframe_idx\n1.0\t0\n")
    with pytest.raises(GazevosError, match="gaze_pos_vid_x.*found: timestamp, frame_idx"):
        read_glassestools(folder)


def test_real_glassestools_import_matches_direct_g3_reader(tmp_path, builders):
    pytest.importorskip("glassesTools.importing")
    from gazevos.io.recordings.glassestools import import_with_glassestools
    from gazevos.io.recordings.tobii_g3 import read_tobii_g3

    src = builders.tobii_g3(tmp_path / "g3")
    via = import_with_glassestools("tobii-g3", src, tmp_path / "out")
    direct = read_tobii_g3(src)
    np.testing.assert_allclose(via.frame_times, direct.frame_times, atol=1e-6)
    np.testing.assert_allclose(via.gaze[["time", "x", "y"]], direct.gaze[["time", "x", "y"]])
    np.testing.assert_allclose(via.intrinsics.camera_matrix, direct.intrinsics.camera_matrix)
    np.testing.assert_allclose(via.intrinsics.dist_coeffs, direct.intrinsics.dist_coeffs)
