"""The report's frame pictures are the same with and without the overlay video (without it,
only those frames are converted and decoding stops after the last one)."""

from __future__ import annotations

import re

from gazevos.gaze.annotate import AnnotateConfig, annotate
from gazevos.gaze.demo import make_demo_sample
from gazevos.gaze.prompts import build_prompts


def _pictures(html: str) -> tuple[list[str], list[str]]:
    return (re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", html),
            re.findall(r"frame \d+ \([0-9.]+ s\)", html))


def test_report_pictures_do_not_depend_on_the_video(tmp_path):
    sample = make_demo_sample(tmp_path / "s", duration=2.0)
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    found = []
    for video in (True, False):
        out = tmp_path / f"out-{video}"
        annotate(sample.root, prompts, out, tracker="copy", config=AnnotateConfig(video=video),
                 progress=False)
        assert (out / "overlay.mp4").exists() == video
        found.append(_pictures((out / "report.html").read_text()))
    images, captions = found[0]
    assert len(images) >= 3 and len(set(captions)) == len(images)
    assert found[1] == found[0]
