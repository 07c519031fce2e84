"""``gazevos annotate`` and ``gazevos demo`` on the command line: outputs and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gazevos.cli import main
from gazevos.gaze.demo import make_demo_sample
from gazevos.io import write_mask


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_demo_sample(tmp_path_factory.mktemp("cli") / "sample", width=320, height=180,
                            duration=2.0)


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("gazevos: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_demo_command_runs_the_whole_job(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--resolution", "320x180", "--seconds", "2",
                 "--tracker", "flow", "-q"])
    text = capsys.readouterr().out
    assert code == 0
    for name in ("report.html", "overlay.mp4", "metrics.csv", "gaze_samples.parquet",
                 "sample/exports/000/world.mp4", "masks/00059.png"):
        assert (out / name).is_file(), name
    assert "gazevos annotate" in text and "report:" in text and "mask_iou" in text
    assert main(["demo", "--out", str(out), "--seconds", "2", "-q"]) == 2  # not empty
    assert "--force" in _error(capsys)


def test_annotate_with_a_mask_and_names(sample, tmp_path, capsys):
    labels = np.zeros((180, 320), np.uint8)
    labels[70:120, 45:85] = 4  # roughly the mug
    write_mask(tmp_path / "mug.png", labels)
    out = tmp_path / "out"
    code = main(["annotate", str(sample.root), "--objects", f"{tmp_path / 'mug.png'}@0",
                 "--names", "4=mug", "--box", sample.boxes[1], "--out", str(out),
                 "--tracker", "flow", "--fixations", "idt", "--tolerance-deg", "2",
                 "--no-video", "-q"])
    text = capsys.readouterr().out
    assert code == 0, text
    summary = json.loads((out / "summary.json").read_text())
    assert [(o["id"], o["name"], o["kind"]) for o in summary["objects"]] == [
        (4, "mug", "mask"), (5, "book", "box")]
    assert summary["settings"]["fixations"] == "idt"
    assert summary["settings"]["tolerance_deg"] == 2.0
    assert not (out / "overlay.mp4").exists() and (out / "report.html").is_file()
    assert "mug" in text and "book" in text


@pytest.mark.parametrize("args, message", [
    ([], "no object given"),
    (["--box", "mug:300,10,330,40@0"], "outside the 320x180 frame"),
    (["--box", "mug:1,2,3"], "bad --box"),
    (["--point", "ball:10,10@99"], "frames 0..59"),
    (["--box", "mug:40,64,88,126", "--format", "bogus"], "unknown recording format"),
])
def test_bad_input_is_one_line(sample, tmp_path, capsys, args, message):
    code = main(["annotate", str(sample.root), "--out", str(tmp_path / "o"), "-q", *args])
    assert code == 2
    assert message in _error(capsys)


def test_unknown_recording_and_timestamp_mismatch(sample, tmp_path, capsys):
    assert main(["annotate", str(tmp_path), "--box", "a:0,0,5,5", "--out",
                 str(tmp_path / "o"), "-q"]) == 2
    assert "not a recognised eye-tracking recording" in _error(capsys)
    import shutil

    root = tmp_path / "rec"
    shutil.copytree(sample.root, root)
    (root / "exports/000/world_timestamps.npy").unlink()
    lines = (root / "exports/000/world_timestamps.csv").read_text().splitlines()
    (root / "exports/000/world_timestamps.csv").write_text("\n".join(lines[:-3]) + "\n")
    assert main(["annotate", str(root), "--box", "a:0,0,5,5", "--out",
                 str(tmp_path / "o2"), "-q"]) == 2
    assert "60 frames but the recording has 57 frame timestamps" in _error(capsys)


def test_track_rate_and_video_width(sample, tmp_path, capsys):
    """--track-rate 15 on the 30 frames/s sample tracks every second frame (and writes
    every mask); --video-width draws the overlay at that width."""
    import av

    out = tmp_path / "out"
    code = main(["annotate", str(sample.root), "--box", sample.boxes[1], "--out", str(out),
                 "--tracker", "flow", "--track-rate", "15", "--video-width", "160", "-q"])
    assert code == 0, capsys.readouterr().err
    tracking = json.loads((out / "tracking.json").read_text())
    assert tracking["stride"] == 2 and tracking["frames"] == 60
    assert all((out / "masks" / f"{i:05d}.png").is_file() for i in range(60))
    with av.open(str(out / "overlay.mp4")) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (160, 90)
    assert main(["annotate", str(sample.root), "--box", sample.boxes[1], "--out",
                 str(tmp_path / "x"), "--track-rate", "-1", "-q"]) == 2
    assert "--track-rate" in _error(capsys)
