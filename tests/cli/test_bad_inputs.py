"""Known classes of bad input on the command line: each ends in one line
``gazevos: error: ...`` with exit code 2 (or click's usage error for a refused flag value),
never in the catch-all "internal error" (issue 19)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _cli_errors import bad_input, usage_error

from gazevos.cli import main
from gazevos.cli.errors import warnings_to_stderr
from gazevos.io.masks import write_mask
from gazevos.io.video import VideoWriter


def _recording(root: Path, w: int = 64, h: int = 48, gaze_shift: float = 0.0,
               nan_share: float = 0.0) -> Path:
    """A generic recording: a 10-frame video (10 frames/s) of a red square on grey and a
    50 Hz gaze track on the square, ``gaze_shift`` s later, its first ``nan_share`` NaN."""
    root.mkdir(parents=True)
    with VideoWriter(root / "scene.mp4", fps=10.0) as vw:
        for _ in range(10):
            img = np.full((h, w, 3), 90, np.uint8)
            img[h // 4:3 * h // 4, w // 4:3 * w // 4] = (200, 30, 30)
            vw.write(img)
    t = np.arange(0.0, 1.0, 0.02)
    rows = [f"{ti + gaze_shift:.2f},{'nan' if i < nan_share * len(t) else w / 2},{h / 2}"
            for i, ti in enumerate(t)]
    (root / "gaze.csv").write_text("timestamp,x,y\n" + "\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def rec(tmp_path_factory) -> Path:
    return _recording(tmp_path_factory.mktemp("bad") / "rec")


@pytest.fixture(scope="module")
def mask(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mask") / "first.png"
    labels = np.zeros((48, 64), np.uint8)
    labels[12:36, 16:48] = 1
    write_mask(path, labels)
    return path


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "problem"), [
    ("boost_rounds: ten\n", "setting 'boost_rounds' must be an integer, got 'ten'"),
    ("work_scale: .nan\n", "setting 'work_scale' must be a finite number, got nan"),
    ("work_scale: 7\n", "setting 'work_scale' must be >= 0.05 and <= 1, got 7.0"),
    ("mean_radii: 3\n", "setting 'mean_radii' must be a list, got 3"),
    ("flow_check: 'no'\n", "setting 'flow_check' must be true or false, got 'no'"),
    ("- 1\n- 2\n", "expected a mapping for ClassicConfig, got list"),
])
def test_config_values_of_the_wrong_type(tmp_path, capsys, rec, mask, text, problem):
    cfg = _yaml(tmp_path, text)
    line = bad_input(capsys, "propagate", str(rec / "scene.mp4"), "--mask", str(mask),
                     "--out", str(tmp_path / "p"), "--tracker", "classic", "--config", str(cfg))
    assert line == f"gazevos: error: {cfg}: {problem}"
    line = bad_input(capsys, "annotate", str(rec), "--objects", f"{mask}@0", "--out",
                     str(tmp_path / "a"), "--tracker", "classic", "--config", str(cfg))
    assert line == f"gazevos: error: {cfg}: {problem}"


def test_ranet_setting_of_the_wrong_type(tmp_path, capsys, rec, mask):
    cfg = _yaml(tmp_path, "online_steps: ten\n")
    line = bad_input(capsys, "propagate", str(rec / "scene.mp4"), "--mask", str(mask),
                     "--out", str(tmp_path / "p"), "--tracker", "ranet", "--config", str(cfg))
    assert line == f"gazevos: error: {cfg}: setting 'online_steps' must be an integer, got 'ten'"


@pytest.mark.parametrize(("argv", "message"), [
    (["--tolerance-deg", "nan"], "'nan' is not a finite number"),
    (["--tolerance-deg", "inf"], "'inf' is not a finite number"),
    (["--tolerance-deg", "-1"], "-1.0 is not in the range 0.0<=x<=45.0"),
    (["--min-confidence", "nan"], "'nan' is not a finite number"),
    (["--min-confidence", "-inf"], "'-inf' is not a finite number"),
    (["--min-confidence", "1.5"], "1.5 is not in the range 0.0<=x<=1.0"),
])
def test_annotate_numbers_must_be_finite_and_in_range(tmp_path, capsys, rec, argv, message):
    last = usage_error(capsys, "annotate", str(rec), "--point", "sq:32,24@0", "--out",
                       str(tmp_path / "o"), *argv)
    assert message in last
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--seconds", "nan"], "'nan' is not a finite number"),
    (["--seconds", "inf"], "'inf' is not a finite number"),
    (["--seconds", "-3"], "-3.0 is not in the range 1.0<=x<=600.0"),
    (["--seconds", "1e9"], "1000000000.0 is not in the range 1.0<=x<=600.0"),
])
def test_demo_numbers_must_be_finite_and_in_range(tmp_path, capsys, argv, message):
    assert message in usage_error(capsys, "demo", "--out", str(tmp_path / "d"), *argv)


def test_demo_at_an_impossible_resolution(tmp_path, capsys):
    line = bad_input(capsys, "demo", "--out", str(tmp_path / "d"), "--resolution",
                     "100000x100000", "-q")
    assert "100000x100000" in line and "3840x2160" in line


@pytest.mark.parametrize("size", ["97x55", "101x57"])
def test_demo_at_an_odd_resolution_succeeds(tmp_path, capsys, size):
    out = tmp_path / "d"
    code = main(["demo", "--out", str(out), "--resolution", size, "--seconds", "1",
                 "--tracker", "copy", "--no-video", "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "mask_iou" in captured.out and (out / "report.html").is_file()


def test_point_prompt_on_a_very_small_video(tmp_path, capsys):
    small = _recording(tmp_path / "small", w=16, h=16)
    line = bad_input(capsys, "annotate", str(small), "--point", "sq:8,8@0", "--out",
                     str(tmp_path / "o"))
    assert line.endswith("the video is 16x16 pixels; gazevos needs at least 32x32 (optical "
                         "flow and tracking fail on smaller frames)")


def test_gaze_that_never_overlaps_the_video(tmp_path, capsys):
    late = _recording(tmp_path / "late", gaze_shift=10.0)
    line = bad_input(capsys, "annotate", str(late), "--point", "sq:32,24@0", "--out",
                     str(tmp_path / "o"), "--tracker", "copy", "--no-video", "-q")
    assert line == (f"gazevos: error: {late / 'gaze.csv'}: no usable gaze: no gaze sample falls "
                    "inside the video's time span (gaze 10.000-10.980 s, video 0.000-1.000 s)")


def test_all_nan_gaze(tmp_path, capsys):
    blind = _recording(tmp_path / "blind", nan_share=1.0)
    line = bad_input(capsys, "annotate", str(blind), "--point", "sq:32,24@0", "--out",
                     str(tmp_path / "o"), "--tracker", "copy", "--no-video", "-q")
    assert line == (f"gazevos: error: {blind / 'gaze.csv'}: no usable gaze: all 50 gaze "
                    "samples are NaN (no gaze position)")


def test_doubtful_gaze_is_a_warning_on_stderr(tmp_path, capsys):
    poor = _recording(tmp_path / "poor", nan_share=0.7)
    with warnings_to_stderr():  # as the CLI entry point shows warnings
        code = main(["annotate", str(poor), "--point", "sq:32,24@0", "--out",
                     str(tmp_path / "o"), "--tracker", "copy", "--no-video", "-q"])
    err = capsys.readouterr().err
    assert code == 0, err
    warning = (f"gazevos: warning: {poor / 'gaze.csv'}: only 15 of 50 gaze samples (30.0 %) "
               "are usable (missing 35); the results rest on few samples")
    assert warning in err.splitlines()
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert re.search(r'<p class="warning"><strong>Warning:</strong> [^<]*only 15 of 50 gaze', html)


def test_names_over_the_system_limit(tmp_path, capsys, rec):
    long_dir = tmp_path / ("x" * 300)
    line = bad_input(capsys, "annotate", str(long_dir / "rec"), "--point", "sq:32,24@0",
                     "--out", str(tmp_path / "o"))
    assert line.startswith("gazevos: error: /") and "xxxxxxxx" in line  # the path, shortened
    line = bad_input(capsys, "annotate", str(rec), "--point", "sq:32,24@0", "--out",
                     str(long_dir), "--tracker", "copy", "--no-video", "-q")
    assert line.startswith("gazevos: error: /") and "xxxxxxxx" in line


def test_an_out_name_near_the_limit(tmp_path, capsys, rec):
    """A 250-character folder name is legal: the run succeeds, or (if a staging name made
    from it were too long) ends in one error line."""
    out = tmp_path / ("o" * 250)
    capsys.readouterr()
    code = main(["annotate", str(rec), "--point", "sq:32,24@0", "--out", str(out),
                 "--tracker", "copy", "--no-video", "-q"])
    if code == 0:
        assert (out / "report.html").is_file()
    else:
        from _cli_errors import one_error_line

        assert code == 2 and "o" * 40 in one_error_line(capsys)
