"""Format detection and the common contract of every reader."""

from __future__ import annotations

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.io.recordings import FORMATS, GAZE_COLUMNS, detect_format, read_recording


@pytest.mark.parametrize("kind, expected", [
    ("pupil_core", "pupil_core"), ("neon_cloud", "neon"), ("neon_native", "neon_native"),
    ("tobii_g3", "tobii_g3"), ("glassestools", "glassestools")])
def test_each_written_format_is_detected(tmp_path, builders, kind, expected):
    folder = getattr(builders, kind)(tmp_path / kind)
    assert detect_format(folder) == expected


def test_generic_folder_is_detected_last(tmp_path, builders):
    builders.video(tmp_path / "scene.mp4")
    (tmp_path / "gaze.csv").write_text("timestamp,x,y\n0.1,1,2\n")
    assert detect_format(tmp_path) == "generic"
    assert detect_format(tmp_path / "gaze.csv") == "generic"


def test_nothing_recognised_lists_what_was_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GazevosError) as err:
        read_recording(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(tmp_path))
    for fmt in FORMATS.values():
        assert fmt.looks_for in msg


def test_missing_path_and_unknown_format(tmp_path):
    with pytest.raises(GazevosError, match="no such recording"):
        read_recording(tmp_path / "nope")
    with pytest.raises(GazevosError, match="unknown recording format 'eyelink'"):
        read_recording(tmp_path, format="eyelink")


def test_options_must_apply_to_the_format(tmp_path, builders):
    folder = builders.tobii_g3(tmp_path / "g3")
    with pytest.raises(GazevosError, match="coords do not apply to tobii_g3"):
        read_recording(folder, coords="px")
    rec = read_recording(folder, coords=None, video=None)  # None options are ignored
    assert rec.format == "tobii_g3"


@pytest.mark.parametrize("kind", ["pupil_core", "neon_cloud", "tobii_g3", "glassestools"])
def test_every_reader_keeps_the_contract(tmp_path, builders, kind):
    rec = read_recording(getattr(builders, kind)(tmp_path / kind))
    assert list(rec.gaze.columns) == list(GAZE_COLUMNS)
    assert all(rec.gaze[c].dtype == np.float64 for c in GAZE_COLUMNS)
    assert rec.gaze["time"].is_monotonic_increasing
    assert rec.frame_times.dtype == np.float64 and np.all(np.diff(rec.frame_times) >= 0)
    assert rec.format in FORMATS and isinstance(rec.resolution, tuple)
