"""The HTML report: self-contained, with the numbers it is given."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd

from gazevos.report.html import ReportData, jpeg_bytes, render_report, timeline_svg, write_report


def _data() -> ReportData:
    t = np.arange(0, 2.0, 0.1)
    obj = np.array([1] * 5 + [0] * 5 + [2] * 5 + [-1] * 5)
    hit = np.array(["inside"] * 3 + ["near"] * 2 + ["none"] * 5 + ["inside"] * 5
                   + ["invalid"] * 5)
    metrics = pd.DataFrame({"object": ["cup", "book & co"], "dwell time [s]": [0.5, 0.25],
                            "visits": [1, 2]})
    img = np.zeros((30, 40, 3), np.uint8)
    return ReportData(title="test <report>", summary=[("tracker", "flow")],
                      objects={1: "cup", 2: "book & co"}, duration=2.0, sample_time=t,
                      sample_object=obj, sample_hit=hit, fixations=[(0.0, 0.4, 1),
                                                                    (1.0, 1.45, 2)],
                      metrics=metrics, images=[("frame 3", jpeg_bytes(img))],
                      files=["masks/", "metrics.csv"])


def test_report_is_self_contained_and_escaped(tmp_path):
    html = render_report(_data())
    assert not re.search(r"https?://", html)
    jpeg = base64.b64encode(jpeg_bytes(np.zeros((30, 40, 3), np.uint8))).decode("ascii")
    assert re.findall(r'src="([^"]*)"', html) == [f"data:image/jpeg;base64,{jpeg}"]
    assert "test &lt;report&gt;" in html and "book &amp; co" in html
    assert "<td>0.25</td>" in html and "<td>2</td>" in html
    assert '<a href="metrics.csv">' in html
    path = write_report(tmp_path / "r.html", _data())
    assert path.read_text(encoding="utf-8") == html


def test_timeline_draws_runs_and_fixations():
    svg = timeline_svg(_data(), width=1000)
    rects = re.findall(r'<rect x="([\d.]+)" y="(\d+)" width="([\d.]+)"[^>]*fill="([^"]+)"'
                       r'(?: fill-opacity="([\d.]+)")?', svg)
    lanes = [r for r in rects if r[3] == "#f6f6f6"]
    assert len(lanes) == 3  # cup, book, no object
    cup = "#800000"  # DAVIS colour of id 1
    samples = [r for r in rects if r[3] == cup and r[4]]
    # cup: 3 samples inside (solid) then 2 near (pale): two runs, 0.3 s and 0.2 s long
    assert [r[4] for r in samples] == ["1", "0.45"]
    plot_w = 1000 - 110 - 10
    assert abs(float(samples[0][2]) - 0.3 / 2.0 * plot_w) < 0.1
    assert abs(float(samples[1][2]) - 0.2 / 2.0 * plot_w) < 0.1
    fix = [r for r in rects if r[3] == cup and not r[4]]
    assert len(fix) == 1 and abs(float(fix[0][2]) - 0.4 / 2.0 * plot_w) < 0.1


def test_warnings_come_first_escaped_and_only_when_given():
    data = _data()
    assert 'class="warning"' not in render_report(data)
    data.warnings = ["only 4 of 10 gaze samples (40.0 %) are usable <b>", "second"]
    data.notes = ["a plain note"]
    html = render_report(data)
    first = html.index('<p class="warning"><strong>Warning:</strong> only 4 of 10 gaze '
                       "samples (40.0 %) are usable &lt;b&gt;</p>")
    assert html.index("<h1>") < first < html.index("second") < html.index("<h2>Summary</h2>")
    assert html.count('class="warning"') == 2
    assert '<p class="note">a plain note</p>' in html
