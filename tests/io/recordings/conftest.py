"""Builders of tiny recordings in each supported format, with known values."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from gazevos.io.video import VideoWriter


def write_video(path: Path, n: int = 12, fps: float = 10.0, size: tuple[int, int] = (64, 48)
                ) -> Path:
    """An MP4 of ``n`` grey frames, ``size`` = (W, H); frame i is shown at i / fps s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, fps) as w:
        for i in range(n):
            w.write(np.full((size[1], size[0], 3), 10 * i % 250, np.uint8))
    return path


def write_tobii_g3(folder: Path, lines: list[str] | None = None, video: bool = True,
                   calibration: bool = True) -> Path:
    """A Glasses 3 folder: 12 frames at 10 fps, 64x48, and the given gazedata lines."""
    folder.mkdir(parents=True, exist_ok=True)
    if lines is None:
        lines = [
            json.dumps({"type": "gaze", "timestamp": 0.05,
                        "data": {"gaze2d": [0.5, 0.25], "gaze3d": [1.0, 2.0, 300.0]}}),
            json.dumps({"type": "gaze", "timestamp": 0.31, "data": {}}),
            json.dumps({"type": "gaze", "timestamp": 0.15, "data": {"gaze2d": [1.25, -0.5]}}),
            json.dumps({"type": "gaze", "timestamp": 2.0, "data": {"gaze2d": [0.0, 1.0]}}),
        ]
    with gzip.open(folder / "gazedata.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    if video:
        write_video(folder / "scenevideo.mp4")
    info = {"name": "rec1", "duration": 1.2, "created": "2024-01-02T03:04:05.000Z",
            "meta-folder": "meta", "gaze": {"file": "gazedata.gz"},
            "scenecamera": {"file": "scenevideo.mp4"}}
    if calibration:
        info["scenecamera"]["camera-calibration"] = {
            "focal-length": [50.0, 51.0], "principal-point": [32.0, 24.5], "skew": 0.5,
            "radial-distortion": [0.1, -0.2, 0.3], "tangential-distortion": [0.01, -0.02],
            "resolution": [64, 48], "position": [0.0, 0.0, 0.0],
            "rotation": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]}
    (folder / "recording.g3").write_text(json.dumps(info))
    (folder / "meta").mkdir(exist_ok=True)
    for name, text in (("RuVersion", "1.0"), ("HuSerial", "HU1"), ("RuSerial", "RU1")):
        (folder / "meta" / name).write_text(text)
    return folder


def write_neon_cloud(folder: Path, video: bool = True, camera_json: bool = True) -> Path:
    """A Pupil Cloud timeseries export: frames every 100 ms from t0; 4 gaze samples."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = 1_700_000_000_123_456_789
    frames = [t0 + i * 100_000_000 for i in range(12)]
    (folder / "world_timestamps.csv").write_text(
        "section id,recording id,timestamp [ns]\n"
        + "".join(f"s1,r1,{t}\n" for t in frames))
    (folder / "gaze.csv").write_text(
        "section id,recording id,timestamp [ns],gaze x [px],gaze y [px],worn,fixation id,"
        "blink id,azimuth [deg],elevation [deg]\n"
        f"s1,r1,{t0 + 5_000_000},10.5,20.25,1,1,,1.0,2.0\n"
        f"s1,r1,{t0 + 150_000_001},63.0,47.0,1,1,,1.0,2.0\n"
        f"s1,r1,{t0 - 1_000},30.0,30.0,0,,,1.0,2.0\n"
        f"s1,r1,{t0 + 250_000_000},,,1,,1,,\n")
    (folder / "fixations.csv").write_text(
        "section id,recording id,fixation id,start timestamp [ns],end timestamp [ns],"
        "duration [ms],fixation x [px],fixation y [px],azimuth [deg],elevation [deg]\n"
        f"s1,r1,1,{t0 + 5_000_000},{t0 + 205_000_000},200,12.0,22.0,1.0,2.0\n")
    (folder / "info.json").write_text(json.dumps({"recording_id": "r1",
                                                  "module_serial_number": "123"}))
    if camera_json:
        (folder / "scene_camera.json").write_text(json.dumps({
            "camera_matrix": [[60.0, 0.0, 32.0], [0.0, 61.0, 24.0], [0.0, 0.0, 1.0]],
            "distortion_coefficients": [[0.1, 0.2, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0]],
            "serial_number": "abc"}))
    if video:
        write_video(folder / "2024-01-01_12-00-00-abcd.mp4")
    return folder


def write_glassestools(folder: Path, video: bool = True, calibration: bool = True) -> Path:
    """A glassesTools folder: 12 frames (ms timestamps, one -1 row), 3 gaze samples."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "frameTimestamps.tsv").write_text(
        "frame_idx\ttimestamp\n" + "".join(f"{i}\t{i * 100.0 + 20.0}\n" for i in range(12))
        + "-1\t5000.0\n")
    (folder / "gazeData.tsv").write_text(
        "timestamp\tframe_idx\tgaze_pos_vid_x\tgaze_pos_vid_y\tgaze_pos_3d_x\tgaze_pos_3d_y"
        "\tgaze_pos_3d_z\n"
        "250.0\t2\t12.5\t40.0\t1.0\t2.0\t3.0\n"
        "125.0\t1\tnan\tnan\tnan\tnan\tnan\n"
        "10.0\t0\t5.0\t6.0\t1.0\t2.0\t3.0\n")
    if calibration:
        fs = cv2.FileStorage(str(folder / "calibration.xml"), cv2.FILE_STORAGE_WRITE)
        fs.write("resolution", np.array([64, 48], dtype=np.float64))
        fs.write("cameraMatrix", np.array([[55.0, 0.0, 31.5], [0.0, 56.0, 23.5],
                                           [0.0, 0.0, 1.0]]))
        fs.write("distCoeff", np.array([0.1, -0.1, 0.001, 0.002, 0.05]))
        fs.release()
    if video:
        write_video(folder / "worldCamera.mp4")
    return folder


def write_pupil_core(folder: Path, video: bool = False) -> Path:
    """A Pupil Player export in ``folder/exports/000`` with intrinsics two levels up."""
    export = folder / "exports" / "000"
    export.mkdir(parents=True, exist_ok=True)
    (export / "gaze_positions.csv").write_text(
        "gaze_timestamp,world_index,confidence,norm_pos_x,norm_pos_y,base_data\n"
        "100.25,2,0.9,0.5,0.75,x\n"
        "100.05,0,0.3,0.25,0.5,x\n"
        "100.15,1,1.0,1.2,0.0,x\n")
    (export / "world_timestamps.csv").write_text(
        "# timestamps [seconds],pts\n" + "".join(f"{100.0 + i / 10:.6f},{i}\n"
                                                 for i in range(12)))
    (export / "fixations.csv").write_text(
        "id,start_timestamp,duration,start_frame_index,end_frame_index,norm_pos_x,norm_pos_y,"
        "dispersion,confidence,method\n"
        "7,100.05,150.0,0,2,0.5,0.25,1.0,0.9,3d\n")
    import msgpack

    (folder / "world.intrinsics").write_bytes(msgpack.packb({
        "version": 1,
        "(64, 48)": {"camera_matrix": [[40.0, 0.0, 32.0], [0.0, 40.0, 24.0], [0.0, 0.0, 1.0]],
                     "dist_coefs": [[0.0, 0.0, 0.0, 0.0]], "resolution": [64, 48],
                     "cam_type": "fisheye"}}))
    if video:
        write_video(export / "world.mp4")
    return folder


def write_neon_native(folder: Path) -> Path:
    """A native Neon folder (raw + time files): 12 scene frames at 10 fps, 3 gaze samples."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = 1_700_000_000_000_000_000
    (folder / "info.json").write_text(json.dumps({"start_time": t0, "duration": 1_200_000_000,
                                                  "app_version": "2.9.40",
                                                  "gaze_offset": [0, 0]}))
    np.array([t0 + 5_000_000, t0 + 150_000_000, t0 + 250_000_000], dtype="<i8").tofile(
        folder / "gaze ps1.time")
    np.array([[10.5, 20.25], [63.0, 47.0], [5.0, 6.0]], dtype="<f4").tofile(
        folder / "gaze ps1.raw")
    np.array([1, 1, 0], dtype="u1").tofile(folder / "worn ps1.raw")
    write_video(folder / "Neon Scene Camera v1 ps1.mp4")
    np.array([t0 + i * 100_000_000 for i in range(12)], dtype="<i8").tofile(
        folder / "Neon Scene Camera v1 ps1.time")
    return folder


@pytest.fixture
def builders() -> SimpleNamespace:
    """The builders of this module, as a fixture."""
    return SimpleNamespace(video=write_video, tobii_g3=write_tobii_g3,
                           neon_cloud=write_neon_cloud, neon_native=write_neon_native,
                           glassestools=write_glassestools,
                           pupil_core=write_pupil_core)
