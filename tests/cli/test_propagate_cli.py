"""``gazevos propagate`` end to end (frame folder and video) and its bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _cli_errors import one_error_line
from PIL import Image

from gazevos.cli import main
from gazevos.eval.metrics import db_eval_iou
from gazevos.eval.synthetic import Square, moving_squares
from gazevos.io.masks import read_mask, write_mask
from gazevos.io.video import VideoWriter


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    frames, labels = moving_squares(5, (120, 160), [Square(40, (20, 20), (1.0, 2.0)),
                                                    Square(30, (70, 100), (-1.0, -1.0))],
                                    seed=2, blur=3.0)
    folder, mask = _save_clip(tmp_path, frames, labels[0], "img{t}.png")
    return folder, mask, labels


def _save_clip(tmp_path: Path, frames: list[np.ndarray], first: np.ndarray,
               name: str) -> tuple[Path, Path]:
    """Frames as PNGs (``name`` formatted with ``t``) in ``tmp_path/frames`` and the first
    mask as ``tmp_path/first.png``."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / name.format(t=t))
    mask = tmp_path / "first.png"
    write_mask(mask, first)
    return folder, mask


def test_propagate_frame_folder(clip: tuple[Path, Path, np.ndarray], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    folder, mask, labels = clip
    out = tmp_path / "out"
    assert main(["propagate", str(folder), "--mask", str(mask), "--out", str(out)]) == 0
    assert "wrote 5 masks" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [*(f"img{t}.png" for t in range(5)),
                                                     "manifest.json"]
    np.testing.assert_array_equal(read_mask(out / "img0.png"), labels[0])
    last = read_mask(out / "img4.png")
    for k in (1, 2):
        assert db_eval_iou(labels[4] == k, last == k) > 0.8
    # refuses to overwrite, then overwrites with --force
    assert main(["propagate", str(folder), "--mask", str(mask), "--out", str(out)]) == 2
    assert "--force" in one_error_line(capsys)
    assert main(["propagate", str(folder), "--mask", str(mask), "--out", str(out),
                 "--tracker", "copy", "--force"]) == 0
    np.testing.assert_array_equal(read_mask(out / "img4.png"), labels[0])


def test_propagate_video(clip: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    folder, mask, _ = clip
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=30) as w:
        for p in sorted(folder.iterdir()):
            w.write(np.asarray(Image.open(p)))
    out = tmp_path / "out"
    assert main(["propagate", str(video), "--mask", str(mask), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [*(f"{t:05d}.png" for t in range(5)),
                                                     "manifest.json"]


@pytest.mark.parametrize("case", ["missing_video", "mask_size", "empty_mask",
                                  "unknown_tracker", "corrupt_video", "missing_mask"])
def test_propagate_bad_inputs(clip: tuple[Path, Path, np.ndarray], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str], case: str) -> None:
    folder, mask, _ = clip
    source, tracker = str(folder), "flow"
    if case == "missing_video":
        source = str(tmp_path / "nothing.mp4")
    elif case == "mask_size":
        write_mask(mask, np.ones((60, 80), np.uint8))
    elif case == "empty_mask":
        write_mask(mask, np.zeros((120, 160), np.uint8))
    elif case == "unknown_tracker":
        tracker = "nope"
    elif case == "corrupt_video":
        source = str(tmp_path / "bad.mp4")
        Path(source).write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    else:
        mask.unlink()
    out = tmp_path / "out"
    rc = main(["propagate", source, "--mask", str(mask), "--out", str(out),
               "--tracker", tracker])
    assert rc != 0
    line = one_error_line(capsys)
    expected = {"missing_video": source, "mask_size": str(mask), "empty_mask": str(mask),
                "unknown_tracker": "unknown tracker 'nope'", "corrupt_video": source,
                "missing_mask": str(mask)}[case]
    assert expected in line
    assert not out.exists()


def test_propagate_failure_midway_leaves_nothing(clip: tuple[Path, Path, np.ndarray],
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder, mask, _ = clip
    (folder / "img3.png").write_bytes(b"not a png")  # frame 3 is corrupt
    out = tmp_path / "out"
    assert main(["propagate", str(folder), "--mask", str(mask), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "img3.png: cannot read image" in err.strip().splitlines()[-1]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_sigterm_then_resume_gives_the_masks_of_an_uninterrupted_run(tmp_path: Path) -> None:
    """A real process stopped by SIGTERM mid-pass says how to continue; --resume tracks only
    the frames left and writes the same masks as a run that was never stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from gazevos.io.rundir import staging_path

    frames, labels = moving_squares(60, (120, 160), [Square(40, (20, 20), (0.5, 0.8))],
                                    seed=3, blur=3.0)
    folder, mask = _save_clip(tmp_path, frames, labels[0], "img{t:03d}.png")
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main(["propagate", str(folder), "--mask", str(mask), "--out", str(full),
                 "--tracker", "classic"]) == 0
    cmd = [sys.executable, "-m", "gazevos.cli", "--threads", "1", "propagate", str(folder),
           "--mask", str(mask), "--out", str(cut), "--tracker", "classic"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    stage = staging_path(cut)
    deadline = time.monotonic() + 120
    while len(list(stage.glob("*.png"))) < 10 and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    last = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("gazevos:")]
    assert len(last) == 1 and last[0].startswith("gazevos: interrupted (SIGTERM): ")
    assert "--resume" in last[0] and not cut.exists()
    done = len(list(stage.glob("*.png")))
    assert 10 <= done < 60
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at frame {done}" in resumed.stdout
    for t in range(60):
        np.testing.assert_array_equal(read_mask(cut / f"img{t:03d}.png"),
                                      read_mask(full / f"img{t:03d}.png"))


def test_tiny_video_and_bad_segment_scale_are_one_line_errors(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    for t in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * t, np.uint8)).save(folder / f"{t}.png")
    mask = tmp_path / "m.png"
    m = np.zeros((16, 16), np.uint8)
    m[4:10, 4:10] = 1
    write_mask(mask, m)
    assert main(["propagate", str(folder), "--mask", str(mask), "--out",
                 str(tmp_path / "o")]) == 2
    assert "16x16" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()
    assert main(["segment", str(folder), "--checkpoint", str(mask), "--scale", "nan",
                 "--out", str(tmp_path / "s")]) == 2
    assert "--scale" in one_error_line(capsys)
