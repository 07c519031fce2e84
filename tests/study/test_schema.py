"""The study file: what loads, and the one-line errors of what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from gazevos.errors import GazevosError
from gazevos.study.schema import load_study
from gazevos.study.tasks import task_hash, task_key


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "b").mkdir(exist_ok=True)
    (tmp_path / "a" / "gaze.csv").write_text("x")
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_load_globs_defaults_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, """
name: s
settings: {tracker: flow, tolerance_deg: 2, aoi: {min_gap: 0.1}}
defaults: {boxes: ["mug:1,2,3,4@0"], condition: X}
recordings:
  - {path: "?", group: g1}
  - {path: a, participant: p9, id: p9-a, condition: Y, points: ["ball:5,5@1"],
     manual: coding.csv}
""")
    st = load_study(path)
    assert [r.id for r in st.recordings] == ["a", "b", "p9-a"]  # the glob: a and b
    a, b, c = st.recordings
    assert a.participant == "a" and a.column("condition") == "X" and a.column("group") == "g1"
    assert c.participant == "p9" and c.column("condition") == "Y" and c.column("group") == ""
    assert c.boxes == ("mug:1,2,3,4@0",) and c.points == ("ball:5,5@1",)
    assert c.manual == tmp_path / "coding.csv"
    assert st.columns == ("condition", "group") and st.group_by == st.columns
    assert st.settings.tracker == "flow" and st.settings.tolerance_deg == 2
    assert st.settings.aoi.min_gap == 0.1 and st.settings.aoi.min_duration == 0.06
    assert st.out == tmp_path / "study-results"
    # the task hash follows inputs and settings
    h = task_hash(task_key(a, st.settings))
    assert h == task_hash(task_key(a, st.settings))
    assert h != task_hash(task_key(b, st.settings))  # b's files differ (empty folder)
    (tmp_path / "a" / "gaze.csv").write_text("y")
    assert h != task_hash(task_key(a, st.settings))


@pytest.mark.parametrize(("text", "words"), [
    ("recordings: []", "non-empty list"),
    ("recordings:\n  - {path: a, studio: a}", "leave 'path' out"),
    ("recordings:\n  - {studio: a}", "not a gazevos studio project"),
    ("recordings:\n  - {path: nope, boxes: ['m:1,2,3,4']}", "not found"),
    ("recordings:\n  - {path: 'z*', boxes: ['m:1,2,3,4']}", "no recording matches"),
    ("recordings:\n  - {path: a}", "no object given"),
    ("recordings:\n  - {path: a, boxes: ['m:1,2,3,4']}\n  - {path: a, boxes: ['m:1,2,3,4']}",
     "used twice"),
    ("recordings:\n  - {path: '*', participant: p, boxes: ['m:1,2,3,4']}", "leave 'participant'"),
    ("settings: {trackr: flow}\nrecordings:\n  - {path: a, boxes: ['m:1,2,3,4']}",
     "unknown setting 'trackr'"),
    ("settings: {fixations: foo}\nrecordings:\n  - {path: a, boxes: ['m:1,2,3,4']}",
     "settings.fixations"),
    ("settings: {aoi: {min_gap: -1}}\nrecordings:\n  - {path: a, boxes: ['m:1,2,3,4']}",
     "min_gap"),
    ("group_by: [site]\nrecordings:\n  - {path: a, boxes: ['m:1,2,3,4']}", "group_by"),
    ("recordings:\n  - {path: a, boxes: ['m:1,2,3,4'], condition: [1, 2]}", "single value"),
    ("recordings: [\n", "not valid YAML"),
    ("colour: red\nrecordings:\n  - {path: a, boxes: ['m:1,2,3,4']}", "unknown key 'colour'"),
])
def test_bad_study_files(tmp_path: Path, text: str, words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(GazevosError, match=words) as info:
        load_study(path)
    assert "\n" not in str(info.value) and "study.yaml" in str(info.value)
