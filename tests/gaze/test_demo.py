"""The synthetic demo sample (gazevos.gaze.demo): sizes and lengths it accepts, and odd sizes."""

from __future__ import annotations

import math

import pytest

from gazevos.errors import GazevosError
from gazevos.gaze.annotate import AnnotateConfig, annotate
from gazevos.gaze.demo import (
    demo_report,
    demo_size,
    make_demo_sample,
    mask_iou,
    parse_resolution,
)
from gazevos.gaze.prompts import build_prompts
from gazevos.io import open_frames, read_mask


@pytest.mark.parametrize(("text", "size"), [
    ("640x360", (640, 360)), ("97x55", (96, 54)), ("101X57", (100, 56)), (" 96 x 54 ", (96, 54)),
    ("3840x2160", (3840, 2160)), ("3841x2161", None), ("100000x100000", None), ("95x54", None),
    ("96x53", None), ("0x0", None), ("-96x54", None), ("96x", None), ("96", None),
    ("1e3x500", None), ("nanxnan", None), ("", None),
])
def test_parse_resolution(text, size):
    if size is not None:
        assert parse_resolution(text) == size
        return
    with pytest.raises(GazevosError) as err:
        parse_resolution(text)
    assert err.value.problem.startswith("--resolution")
    assert err.value.path is None


def test_size_bounds_are_named():
    with pytest.raises(GazevosError) as err:
        demo_size(100000, 100000)
    assert str(err.value) == ("the sample video must be between 96x54 and 3840x2160 pixels, "
                              "got 100000x100000")
    assert demo_size(99, 99) == (98, 98)


@pytest.mark.parametrize(("kw", "message"), [
    ({"duration": math.nan}, "the sample must last 1 to 600 s, got nan"),
    ({"duration": math.inf}, "the sample must last 1 to 600 s, got inf"),
    ({"duration": 0.5}, "the sample must last 1 to 600 s, got 0.5"),
    ({"fps": 0.0}, "the sample frame rate must be 1 to 240 frames/s, got 0"),
    ({"width": 20_000}, "the sample video must be between 96x54 and 3840x2160 pixels, got "
                        "20000x360"),
])
def test_impossible_samples_are_refused_before_writing(tmp_path, kw, message):
    with pytest.raises(GazevosError) as err:
        make_demo_sample(tmp_path / "s", **kw)
    assert str(err.value) == message
    assert not (tmp_path / "s").exists()


def test_an_odd_size_gives_an_even_video_and_masks_of_its_size(tmp_path):
    sample = make_demo_sample(tmp_path / "s", width=97, height=55, duration=1.0)
    assert sample.size == (96, 54)
    frames = open_frames(sample.root / "exports" / "000" / "world.mp4")
    first = next(iter(frames)).image
    assert first.shape == (54, 96, 3)
    truth = read_mask(sample.truth_dir / "00000.png")
    assert truth.shape == (54, 96)
    # the whole job and the check against the truth (it failed here at odd sizes: the
    # encoder made the video even, the true masks kept the odd size)
    result = annotate(sample.root, build_prompts(boxes=sample.boxes, points=sample.points),
                      tmp_path / "out", tracker="copy", config=AnnotateConfig(video=False),
                      progress=False)
    check = demo_report(sample, result.metrics, tmp_path / "out" / "masks")
    assert list(check["object"]) == ["mug", "book", "ball"]
    iou = check.set_index("object")["mask_iou"]
    assert 0.0 < iou["mug"] <= 1.0 and 0.0 < iou["book"] <= 1.0  # copy: the first masks
    assert mask_iou(sample.truth_dir, sample.truth_dir, sample.n_frames, [1, 2]) == {1: 1.0,
                                                                                     2: 1.0}
