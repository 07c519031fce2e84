"""``gazevos import``: the call into glassesTools, with a stand-in glassesTools module."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from gazevos.cli import main


def _write_common_folder(out: Path) -> None:
    """What a glassesTools importer writes: 2 gaze samples, 3 frames, a 64x48 calibration."""
    out.mkdir()
    (out / "gazeData.tsv").write_text("timestamp\tframe_idx\tgaze_pos_vid_x\tgaze_pos_vid_y\n"
                                      "10.0\t0\t1.0\t2.0\n50.0\t1\t3.0\t4.0\n")
    (out / "frameTimestamps.tsv").write_text("frame_idx\ttimestamp\n0\t0.0\n1\t40.0\n2\t80.0\n")
    fs = cv2.FileStorage(str(out / "calibration.xml"), cv2.FILE_STORAGE_WRITE)
    fs.write("resolution", np.array([64, 48]))
    fs.write("cameraMatrix", np.eye(3))
    fs.write("distCoeff", np.zeros(5))
    fs.release()


@pytest.fixture
def fake_glassestools(monkeypatch):
    """Install a stand-in ``glassesTools.importing`` that records its calls."""
    calls: dict[str, list] = {"info": [], "import": []}
    mod = types.ModuleType("glassesTools.importing")
    behaviour = {"recordings": 1, "fail": None}

    def get_recording_info(source_dir, device, device_name=None):
        calls["info"].append((Path(source_dir), device))
        return [SimpleNamespace(name=f"rec{i}") for i in range(behaviour["recordings"])]

    def do_import(output_dir=None, source_dir=None, device=None, rec_info=None,
                  copy_scene_video=True, **_):
        calls["import"].append({"output_dir": Path(output_dir), "rec_info": rec_info,
                                "copy_scene_video": copy_scene_video})
        if behaviour["fail"]:
            Path(output_dir).mkdir()
            raise behaviour["fail"]
        _write_common_folder(Path(output_dir))
        return rec_info

    mod.get_recording_info = get_recording_info
    mod.do_import = do_import
    pkg = types.ModuleType("glassesTools")
    pkg.importing = mod
    monkeypatch.setitem(sys.modules, "glassesTools", pkg)
    monkeypatch.setitem(sys.modules, "glassesTools.importing", mod)
    return SimpleNamespace(calls=calls, behaviour=behaviour)


def test_import_calls_glassestools_and_moves_result(tmp_path, fake_glassestools, capsys):
    src = tmp_path / "raw"
    src.mkdir()
    dst = tmp_path / "out" / "rec"
    assert main(["import", "tobii-g3", str(src), str(dst), "--no-video-copy"]) == 0
    assert fake_glassestools.calls["info"] == [(src, "Tobii_Glasses_3")]
    call = fake_glassestools.calls["import"][0]
    assert call["rec_info"].name == "rec0" and call["copy_scene_video"] is False
    assert call["output_dir"].parent == dst.parent and call["output_dir"] != dst  # temp first
    assert (dst / "gazeData.tsv").is_file()
    assert sorted(p.name for p in dst.parent.iterdir()) == ["rec"]  # no temp left behind
    assert "2 gaze samples, 3 frames, 64x48" in capsys.readouterr().out


def test_non_empty_destination_needs_force(tmp_path, fake_glassestools, capsys):
    src = tmp_path / "raw"
    src.mkdir()
    dst = tmp_path / "rec"
    dst.mkdir()
    (dst / "old.txt").write_text("old")
    assert main(["import", "pupil-neon", str(src), str(dst)]) == 2
    assert "not empty" in capsys.readouterr().err and not fake_glassestools.calls["import"]
    assert main(["import", "pupil-neon", str(src), str(dst), "--force"]) == 0
    assert not (dst / "old.txt").exists() and (dst / "gazeData.tsv").is_file()
    assert fake_glassestools.calls["info"][-1][1] == "Pupil_Neon"


def test_glassestools_failure_is_one_line_and_cleans_up(tmp_path, fake_glassestools, capsys):
    src = tmp_path / "raw"
    src.mkdir()
    fake_glassestools.behaviour["fail"] = RuntimeError("bad\nthings")
    assert main(["import", "smi-etg", str(src), str(tmp_path / "rec")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "RuntimeError: bad things" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_no_or_several_recordings(tmp_path, fake_glassestools, capsys):
    src = tmp_path / "raw"
    src.mkdir()
    fake_glassestools.behaviour["recordings"] = 0
    assert main(["import", "tobii-g2", str(src), str(tmp_path / "a")]) == 2
    assert "found no tobii-g2 recording" in capsys.readouterr().err
    fake_glassestools.behaviour["recordings"] = 2
    assert main(["import", "tobii-g2", str(src), str(tmp_path / "a")]) == 2
    assert "found 2 recordings here (rec0, rec1)" in capsys.readouterr().err


def test_missing_glassestools_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "glassesTools", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "glassesTools.importing", None)
    src = tmp_path / "raw"
    src.mkdir()
    assert main(["import", "tobii-g3", str(src), str(tmp_path / "rec")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'gazevos[glasses]'" in err and "glassestools==1.24.0" in err
    assert not (tmp_path / "rec").exists()
