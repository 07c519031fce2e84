"""The outputs of an annotate run (gazevos.report.annotation): warnings about doubtful gaze
reach the top of report.html and summary.json; unusable gaze stops the run."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest

from gazevos.errors import GazevosError
from gazevos.gaze.annotate import annotate
from gazevos.gaze.demo import make_demo_sample
from gazevos.gaze.prompts import build_prompts
from gazevos.gaze.sync import WARNING_PREFIX, GazeWarning
from gazevos.report.annotation import integer_scale, overlay_size, split_warnings

GAZE = "exports/000/gaze_positions.csv"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_demo_sample(tmp_path_factory.mktemp("demo") / "sample", width=160, height=90,
                            duration=1.0)


def _with_gaze(sample, tmp_path, change) -> tuple:
    root = tmp_path / "rec"
    shutil.copytree(sample.root, root, ignore=shutil.ignore_patterns("groundtruth"))
    gaze = pd.read_csv(root / GAZE)
    change(gaze)
    gaze.to_csv(root / GAZE, index=False)
    return root, build_prompts(boxes=sample.boxes), len(gaze)


def test_split_warnings():
    notes = ["video has 31 frames", WARNING_PREFIX + "few samples", "x warning: not one"]
    assert split_warnings(notes) == (["few samples"], ["video has 31 frames",
                                                       "x warning: not one"])


def test_few_usable_samples_warn_at_the_top_of_the_report(sample, tmp_path):
    def blink(gaze: pd.DataFrame) -> None:  # 70 % of the samples get confidence 0
        gaze.loc[: int(0.7 * len(gaze)) - 1, "confidence"] = 0.0

    root, prompts, n = _with_gaze(sample, tmp_path, blink)
    with pytest.warns(GazeWarning, match=r"gaze_positions.csv: only \d+ of \d+ gaze samples"):
        result = annotate(root, prompts, tmp_path / "out", tracker="copy", progress=False)
    warns, _ = split_warnings(result.notes)
    assert len(warns) == 1
    ok = int((result.samples["flag"] == "ok").sum())
    assert ok < 0.3 * n + 1
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    box = re.search(r'<p class="warning"><strong>Warning:</strong> ([^<]*)</p>', html)
    assert box is not None and box.start() < html.index("<h2>Summary</h2>")
    assert f"only {ok} of {n} gaze samples" in box.group(1)
    assert str(root / GAZE) in box.group(1)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["warnings"] == warns
    assert not any(n.startswith(WARNING_PREFIX) for n in summary["notes"])


def test_gaze_outside_the_video_is_an_error(sample, tmp_path):
    def later(gaze: pd.DataFrame) -> None:  # the whole track 100 s after the video
        gaze["gaze_timestamp"] += 100.0

    root, prompts, _ = _with_gaze(sample, tmp_path, later)
    with pytest.raises(GazevosError) as err:
        annotate(root, prompts, tmp_path / "out", tracker="copy", progress=False)
    assert err.value.path == str(root / GAZE)
    assert err.value.problem == ("no usable gaze: no gaze sample falls inside the video's time "
                                 "span (gaze 1100.000-1100.995 s, video 1000.000-1001.000 s)")


@pytest.mark.parametrize(("size", "width", "expected"), [
    ((1920, 1080), 960, (0.5, (960, 540))),        # a whole factor
    ((1600, 1200), 960, (0.5, (800, 600))),        # halved: 800 >= 0.8 * 960
    ((1280, 720), 960, (0.75, (960, 540))),        # 640 would be too small: 960 wide
    ((1088, 1080), 960, (960 / 1088, (960, 953))),
    ((3840, 2160), 960, (0.25, (960, 540))),
    ((640, 360), 960, (1.0, None)),                # narrower than asked: as is
    ((1920, 1080), 0, (1.0, None)),                # 0: full size
])
def test_overlay_size(size, width, expected):
    scale, out = overlay_size(*size, width)
    assert scale == pytest.approx(expected[0]) and out == expected[1]
    assert out is None or out[0] <= width
    assert integer_scale(*size, out) == (out is None or size[0] % out[0] == 0
                                          and size[1] // out[1] == size[0] // out[0])
