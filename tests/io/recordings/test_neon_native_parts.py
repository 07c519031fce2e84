"""Native Neon recordings with missing or several scene-video parts, read with the real
``pupil-labs-neon-recording`` library (a gazevos dependency)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.io.recordings import neon, read_recording

T0 = 1_700_000_000_000_000_000  # first scene frame of part 1 in the builder (ns)
SCENE = "Neon Scene Camera v1"


def _add_part_times(folder: Path, part: int, start_ns: int, n: int) -> np.ndarray:
    """Write ``<SCENE> ps<part>.time`` (n frames every 100 ms from start_ns), no video."""
    t = np.array([start_ns + i * 100_000_000 for i in range(n)], dtype="<i8")
    t.tofile(folder / f"{SCENE} ps{part}.time")
    return t


def _gaze(folder: Path, times_ns: list[int], worn: list[int]) -> None:
    """Replace the builder's gaze with samples at ``times_ns`` (x = 10 * i, y = 20 * i)."""
    n = len(times_ns)
    np.asarray(times_ns, dtype="<i8").tofile(folder / "gaze ps1.time")
    xy = np.stack([np.arange(n) * 10.0, np.arange(n) * 20.0], axis=1).astype("<f4")
    xy.tofile(folder / "gaze ps1.raw")
    np.asarray(worn, dtype="u1").tofile(folder / "worn ps1.raw")


def test_missing_parts_read_part_one_and_say_what_is_missing(tmp_path, builders):
    folder = builders.neon_native(tmp_path / "native")  # part 1: 12 frames at 10 fps
    _add_part_times(folder, 2, T0 + 5_000_000_000, 30)   # 30 frames, 2.9 s
    _add_part_times(folder, 3, T0 + 9_000_000_000, 7)    # 7 frames, 0.6 s
    # samples: inside part 1 (0.05 s, 1.0 s), during part 2 (6 s), during part 3 (9.5 s)
    _gaze(folder, [T0 + 50_000_000, T0 + 1_000_000_000, T0 + 6_000_000_000,
                   T0 + 9_500_000_000], worn=[255, 255, 0, 255])
    rec = read_recording(folder)
    assert rec.video_path.name == f"{SCENE} ps1.mp4"
    np.testing.assert_allclose(rec.frame_times, np.arange(12) / 10, atol=1e-9)
    np.testing.assert_allclose(rec.gaze["time"], [0.05, 1.0, 6.0, 9.5], atol=1e-9)
    np.testing.assert_array_equal(rec.gaze["x"], [0.0, 10.0, 20.0, 30.0])
    np.testing.assert_array_equal(rec.gaze["confidence"], [1.0, 1.0, 0.0, 1.0])
    assert rec.meta["missing_scene_parts"] == [2, 3] and rec.meta["scene_part"] == 1
    assert len(rec.notes) == 1
    note = rec.notes[0]
    assert note.startswith("scene video of parts 2, 3 is missing")
    assert f"{SCENE} ps2.mp4, {SCENE} ps3.mp4: 37 frames, 2.9 + 0.6 s" in note
    assert f"only part 1 ({SCENE} ps1.mp4) is read" in note
    assert "2 of the 4 gaze samples lie outside it" in note


def test_complete_recording_has_no_notes(tmp_path, builders):
    rec = read_recording(builders.neon_native(tmp_path / "native"))
    assert rec.notes == [] and rec.meta["missing_scene_parts"] == []


def test_missing_first_part_reads_the_second(tmp_path, builders):
    folder = builders.neon_native(tmp_path / "native")
    (folder / f"{SCENE} ps1.mp4").rename(folder / f"{SCENE} ps2.mp4")
    (folder / f"{SCENE} ps1.time").rename(folder / f"{SCENE} ps2.time")
    _add_part_times(folder, 1, T0 - 3_000_000_000, 5)
    rec = read_recording(folder)
    assert rec.video_path.name == f"{SCENE} ps2.mp4" and rec.meta["time_zero_ns"] == T0
    np.testing.assert_allclose(rec.frame_times, np.arange(12) / 10, atol=1e-9)
    assert rec.notes[0].startswith("scene video of part 1 is missing")
    assert "only part 2" in rec.notes[0]


def test_no_scene_video_reads_gaze_at_the_neon_resolution(tmp_path, builders):
    folder = builders.neon_native(tmp_path / "native")
    (folder / f"{SCENE} ps1.mp4").unlink()
    (folder / "info.json").write_text(json.dumps({"module_serial_number": "1",
                                                  "app_version": "2.9.40"}))
    rec = read_recording(folder)
    assert rec.video_path is None and rec.resolution == neon.NEON_SCENE_RESOLUTION
    assert rec.meta["resolution_source"] == "Neon scene camera (1600x1200)"
    assert len(rec.frame_times) == 0
    np.testing.assert_allclose(rec.gaze["time"], [0.0, 0.145, 0.245], atol=1e-9)
    assert "the recording has no scene video at all" in rec.notes[0]
    assert rec.notes[0].startswith("scene video of part 1 is missing")
    assert read_recording(folder, resolution=(800, 600)).resolution == (800, 600)


def test_several_present_parts_are_refused(tmp_path, builders):
    folder = builders.neon_native(tmp_path / "native")
    builders.video(folder / f"{SCENE} ps2.mp4", n=3)
    _add_part_times(folder, 2, T0 + 5_000_000_000, 3)
    with pytest.raises(GazevosError, match="split into 2 parts") as err:
        read_recording(folder)
    assert str(err.value).startswith(str(folder))


def test_manifest_names_absent_files(tmp_path, builders):
    folder = builders.neon_native(tmp_path / "native")
    listed = [{"name": n, "size": 1, "crc": "0"} for n in
              ("info.json", "gaze ps1.raw", "extimu ps1.raw", "calibration.bin")]
    (folder / "manifest.json").write_text(json.dumps(listed))
    rec = read_recording(folder)
    assert rec.notes == ["manifest.json lists file(s) the folder lacks: extimu ps1.raw, "
                         "calibration.bin"]
    (folder / "manifest.json").write_text("{not json")  # a damaged manifest is ignored
    assert read_recording(folder).notes == []


def test_video_without_timestamps_is_named(tmp_path, builders):
    folder = builders.neon_native(tmp_path / "native")
    builders.video(folder / f"{SCENE} ps2.mp4", n=3)
    rec = read_recording(folder)
    assert rec.video_path.name == f"{SCENE} ps1.mp4"
    assert rec.notes == [f"{SCENE} ps2.mp4 has no timestamp file ({SCENE} ps2.time); "
                         "that part is not read"]


def test_reading_leaves_pyav_logging_off(tmp_path, builders):
    """pupil_labs.video switches PyAV's FFmpeg logging on at import, which can deadlock
    frame-threaded decoding later in the process; reading a native recording must leave
    the level as it was (checked in a fresh interpreter, where the import really happens)."""
    folder = builders.neon_native(tmp_path / "native")
    code = ("import sys, av.logging as l\n"
            "from gazevos.io.recordings import read_recording\n"
            "assert 'pupil_labs.video' not in sys.modules\n"
            "before = l.get_level()\n"
            f"rec = read_recording({str(folder)!r})\n"
            "assert 'pupil_labs.video' in sys.modules and len(rec.gaze) == 3\n"
            "print(before, l.get_level())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]
