"""Pupil Cloud Neon/Invisible timeseries exports and native Neon recordings."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.io.recordings import neon, read_recording

T0 = 1_700_000_000_123_456_789  # first world timestamp of the written export (ns)


def test_cloud_export_times_positions_and_worn(tmp_path, builders):
    rec = read_recording(builders.neon_cloud(tmp_path / "rec"))
    assert rec.format == "neon" and rec.meta["device"] == "Pupil Neon"
    assert rec.meta["time_zero_ns"] == T0
    np.testing.assert_allclose(rec.frame_times, np.arange(12) / 10, atol=1e-12)
    g = rec.gaze  # sorted by time; the sample 1 us before the first frame comes first
    np.testing.assert_allclose(g["time"], [-1e-6, 0.005, 0.150000001, 0.25], rtol=0, atol=1e-12)
    np.testing.assert_allclose(g["x"].iloc[:3], [30.0, 10.5, 63.0])
    np.testing.assert_allclose(g["y"].iloc[:3], [30.0, 20.25, 47.0])
    assert np.isnan(g["x"].iloc[3]) and np.isnan(g["y"].iloc[3])
    np.testing.assert_array_equal(g["confidence"], [0.0, 1.0, 1.0, 1.0])  # worn column
    assert rec.video_path.name.endswith(".mp4") and rec.resolution == (64, 48)


def test_cloud_export_intrinsics_and_fixations(tmp_path, builders):
    rec = read_recording(builders.neon_cloud(tmp_path / "rec"))
    np.testing.assert_array_equal(rec.intrinsics.camera_matrix,
                                  [[60.0, 0.0, 32.0], [0.0, 61.0, 24.0], [0.0, 0.0, 1.0]])
    assert rec.intrinsics.dist_coeffs.shape == (8,) and rec.intrinsics.dist_coeffs[4] == 0.3
    assert rec.intrinsics.resolution == (64, 48)
    f = rec.fixations.iloc[0]
    assert f["fixation_id"] == 1
    assert (f["start"], f["end"]) == pytest.approx((0.005, 0.205))
    assert (f["x"], f["y"]) == (12.0, 22.0)


def test_cloud_export_without_video_needs_resolution(tmp_path, builders):
    folder = builders.neon_cloud(tmp_path / "rec", video=False)
    with pytest.raises(GazevosError, match="resolution"):
        read_recording(folder)
    rec = read_recording(folder, resolution=(1600, 1200))
    assert rec.video_path is None and rec.resolution == (1600, 1200)
    assert rec.intrinsics.resolution == (1600, 1200)


def test_cloud_export_with_two_videos_asks_which(tmp_path, builders):
    folder = builders.neon_cloud(tmp_path / "rec")
    builders.video(folder / "other.mp4", n=3)
    with pytest.raises(GazevosError, match="several scene videos"):
        read_recording(folder)
    rec = read_recording(folder, video="other.mp4")
    assert rec.video_path == folder / "other.mp4"


def test_worn_as_text(tmp_path, builders):
    folder = builders.neon_cloud(tmp_path / "rec", video=False)
    text = (folder / "gaze.csv").read_text().splitlines()
    rows = [text[0]] + [r.replace(",1,", ",True,", 1).replace(",0,", ",False,", 1)
                        for r in text[1:]]
    (folder / "gaze.csv").write_text("\n".join(rows) + "\n")
    rec = neon.read_neon(folder, resolution=(64, 48))
    np.testing.assert_array_equal(rec.gaze["confidence"], [0.0, 1.0, 1.0, 1.0])


def test_native_without_library_says_how_to_install(tmp_path, builders, monkeypatch):
    folder = builders.neon_native(tmp_path / "native")
    monkeypatch.setattr(neon, "_import_neon_recording", lambda: None)
    with pytest.raises(GazevosError, match=r"pip install pupil-labs-neon-recording==") as err:
        read_recording(folder)
    assert str(err.value).startswith(str(folder))


def _fake_neon_library(t0: int) -> SimpleNamespace:
    class SensorError(Exception):
        pass

    def missing(*_a):
        raise SensorError("no fixations")

    class Worn(SimpleNamespace):
        def __len__(self):
            return 2

    class Rec:
        gaze = SimpleNamespace(time=np.array([t0 + 5_000_000, t0 + 250_000_000]),
                               point=np.array([[1.0, 2.0], [3.0, 4.0]]))
        worn = Worn(worn=np.array([255, 0]))  # the files hold 255 for worn
        scene = SimpleNamespace(time=np.array([t0 + i * 100_000_000 for i in range(12)]),
                                width=64, height=48)
        calibration = SimpleNamespace(scene_camera_matrix=np.eye(3) * 2,
                                      scene_distortion_coefficients=np.arange(8.0))
        fixations = property(missing)  # the library raises SensorError for absent streams

        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return None

    return SimpleNamespace(open=lambda _p: Rec(), __version__="fake",
                           NeonRecording=SimpleNamespace(SensorError=SensorError))


def test_native_maps_library_values(tmp_path, builders, monkeypatch):
    folder = builders.neon_native(tmp_path / "native")
    t0 = 1_700_000_000_000_000_000
    monkeypatch.setattr(neon, "_import_neon_recording", lambda: _fake_neon_library(t0))
    rec = read_recording(folder)
    assert rec.format == "neon_native" and rec.fixations is None
    np.testing.assert_allclose(rec.gaze["time"], [0.005, 0.25])
    np.testing.assert_array_equal(rec.gaze[["x", "y"]].to_numpy(), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(rec.gaze["confidence"], [1.0, 0.0])
    np.testing.assert_allclose(rec.frame_times, np.arange(12) / 10)
    assert rec.resolution == (64, 48) and rec.intrinsics.camera_matrix[0, 0] == 2.0
    assert rec.video_path.name == "Neon Scene Camera v1 ps1.mp4"


def test_native_with_the_real_library(tmp_path, builders):
    pytest.importorskip("pupil_labs.neon_recording")
    rec = read_recording(builders.neon_native(tmp_path / "native"))
    assert rec.format == "neon_native" and rec.resolution == (64, 48)
    np.testing.assert_allclose(rec.frame_times, np.arange(12) / 10, atol=1e-9)
    np.testing.assert_allclose(rec.gaze["time"], [0.005, 0.15, 0.25])
    np.testing.assert_allclose(rec.gaze["x"], [10.5, 63.0, 5.0])
    np.testing.assert_array_equal(rec.gaze["confidence"], [1.0, 1.0, 0.0])
