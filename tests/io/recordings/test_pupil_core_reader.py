"""Pupil Core (Pupil Player export) reader: real exports in ../shared and small written ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gazevos.errors import GazevosError
from gazevos.io.recordings import GAZE_COLUMNS, read_recording
from gazevos.io.recordings.pupil_core import read_pupil_core


def test_bleach_naruto_reads_video_timestamps_intrinsics(pupil_core):
    root = pupil_core / "bleach-naruto"
    rec = read_pupil_core(root)
    export = root / "exports" / "000"
    assert rec.format == "pupil_core"
    assert rec.video_path == export / "world.mp4"
    assert rec.resolution == (1280, 720)
    assert rec.frame_times.shape == (205,)
    assert rec.frame_times[0] == pytest.approx(322066.436653)
    assert rec.frame_times[-1] == pytest.approx(322073.272518)
    # intrinsics come from world.intrinsics two levels above the export folder
    k = rec.intrinsics.camera_matrix
    assert k[0, 0] == pytest.approx(794.3311439869655) and k[1, 2] == pytest.approx(
        397.36927353414865)
    assert rec.intrinsics.dist_coeffs.shape == (8,)
    assert rec.intrinsics.model == "radial" and rec.intrinsics.resolution == (1280, 720)
    assert list(rec.gaze.columns) == list(GAZE_COLUMNS)
    assert len(rec.gaze) == 775


def test_bleach_naruto_gaze_y_is_flipped(pupil_core):
    export = pupil_core / "bleach-naruto" / "exports" / "000"
    rec = read_pupil_core(export)
    raw = pd.read_csv(export / "gaze_positions.csv")
    # first row of the file, by hand: norm (0.37121199359947754, 0.5652705179915555)
    assert raw["norm_pos_y"].iloc[0] == pytest.approx(0.5652705179915555)
    row = rec.gaze.iloc[0]
    assert row["time"] == pytest.approx(322066.43972799997)
    assert row["x"] == pytest.approx(0.37121199359947754 * 1280)
    assert row["y"] == pytest.approx((1 - 0.5652705179915555) * 720)  # 313.005...
    assert row["y"] == pytest.approx(313.0052271, abs=1e-6)
    np.testing.assert_allclose(rec.gaze["y"], (1 - raw["norm_pos_y"]) * 720)
    np.testing.assert_allclose(rec.gaze["confidence"], raw["confidence"])


def test_root_and_export_folder_give_the_same_recording(pupil_core):
    a = read_recording(pupil_core / "bleach-naruto")
    b = read_recording(pupil_core / "bleach-naruto" / "exports" / "000")
    assert a.format == b.format == "pupil_core"
    pd.testing.assert_frame_equal(a.gaze, b.gaze)
    np.testing.assert_array_equal(a.frame_times, b.frame_times)


def test_empty_capstone_gaze_file_is_one_line_error(pupil_core):
    with pytest.raises(GazevosError) as err:
        read_recording(pupil_core / "capstone-export")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(str(pupil_core / "capstone-export" / "gaze_positions.csv"))
    assert "empty" in msg


def test_gaze_only_export_needs_a_resolution(pupil_core):
    folder = pupil_core / "gaze-only-1080p"
    with pytest.raises(GazevosError, match="resolution"):
        read_pupil_core(folder)
    rec = read_pupil_core(folder, resolution=(1920, 1080))
    assert rec.video_path is None and rec.resolution == (1920, 1080)
    assert rec.meta["resolution_source"] == "option"
    assert len(rec.frame_times) == 376 and len(rec.gaze) == 1483


def test_saccade_task_gaze_only_has_no_frames(pupil_core):
    rec = read_pupil_core(pupil_core / "saccade-task", resolution=(1280, 720))
    assert rec.frame_times.shape == (0,)
    assert len(rec.gaze) == 2218
    assert rec.gaze["time"].is_monotonic_increasing


def test_written_export_values_fixations_and_intrinsics(tmp_path, builders):
    root = builders.pupil_core(tmp_path / "rec")
    rec = read_recording(root)  # recording root: finds exports/000, intrinsics in root
    assert rec.format == "pupil_core"
    # no video: resolution from the single camera of world.intrinsics
    assert rec.resolution == (64, 48) and rec.meta["resolution_source"].startswith("world")
    assert rec.intrinsics.model == "fisheye" and rec.intrinsics.dist_coeffs.shape == (4,)
    g = rec.gaze  # rows sorted by time, y flipped
    np.testing.assert_allclose(g["time"], [100.05, 100.15, 100.25])
    np.testing.assert_allclose(g["x"], [0.25 * 64, 1.2 * 64, 0.5 * 64])
    np.testing.assert_allclose(g["y"], [24.0, 48.0, 12.0])
    np.testing.assert_allclose(g["confidence"], [0.3, 1.0, 0.9])
    np.testing.assert_allclose(rec.frame_times, 100.0 + np.arange(12) / 10)
    f = rec.fixations.iloc[0]
    assert f["fixation_id"] == 7
    assert f["start"] == pytest.approx(100.05) and f["end"] == pytest.approx(100.2)  # 150 ms
    assert (f["x"], f["y"]) == pytest.approx((32.0, 36.0))


def test_resolution_option_must_agree_with_video(tmp_path, builders):
    root = builders.pupil_core(tmp_path / "rec", video=True)
    assert read_pupil_core(root).resolution == (64, 48)
    with pytest.raises(GazevosError, match="differs from the scene video"):
        read_pupil_core(root, resolution=(128, 96))


def test_intrinsics_for_another_resolution_are_left_out(tmp_path, builders):
    root = builders.pupil_core(tmp_path / "rec")
    rec = read_pupil_core(root, resolution=(128, 96))
    assert rec.intrinsics is None and "no intrinsics for 128x96" in rec.meta["intrinsics_note"]
    assert rec.gaze["x"].iloc[0] == pytest.approx(0.25 * 128)


def test_missing_column_names_the_file(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "gaze_positions.csv").write_text("gaze_timestamp,confidence\n1.0,1.0\n")
    with pytest.raises(GazevosError, match="norm_pos_x") as err:
        read_pupil_core(folder, resolution=(10, 10))
    assert str(folder / "gaze_positions.csv") in str(err.value)
