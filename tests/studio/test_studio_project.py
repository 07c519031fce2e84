"""The project folder: transactions, audit, reopening, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.studio.project import Project


def test_an_edit_that_fails_half_way_leaves_nothing(tmp_path):
    p = Project(tmp_path / "p", recording=tmp_path)
    p.add_object("cup")
    n_audit = len(p.audit())
    with pytest.raises(RuntimeError):
        with p.edit("two objects", None, None) as cur:
            cur.execute("INSERT INTO objects (id, name, colour) VALUES (2, 'a', '#000000')")
            raise RuntimeError("killed here")
    assert [o.name for o in p.objects()] == ["cup"]
    assert len(p.audit()) == n_audit


def test_state_survives_reopening_and_keyframe_files_are_content_named(tmp_path):
    p = Project(tmp_path / "p", recording=tmp_path)
    o = p.add_object("cup", "#112233")
    labels = np.zeros((40, 50), np.uint8)
    labels[5:9, 5:9] = o.id
    row = p.set_keyframe(7, o.id, "box", {"box": [5, 5, 9, 9]}, labels)
    p.set_override(3, 0)
    p.close()
    q = Project(tmp_path / "p")
    assert q.objects()[0].colour == "#112233"
    assert q.keyframe_frames() == [7]
    assert (q.keyframe_labels(7) == labels).all()
    assert row.mask.startswith("keyframes/00007-") and (q.root / row.mask).is_file()
    assert q.overrides() == {3: 0}
    assert [a["action"] for a in q.audit()][:3] == ["override fixation", "set keyframe",
                                                    "add object"]


def test_deleting_an_object_removes_its_pixels_from_keyframes(tmp_path):
    p = Project(tmp_path / "p", recording=tmp_path)
    a, b = p.add_object("a"), p.add_object("b")
    labels = np.zeros((40, 50), np.uint8)
    labels[:10] = a.id
    labels[20:] = b.id
    p.set_keyframe(0, a.id, "points", {}, labels)
    p.set_keyframe(0, b.id, "points", {}, labels)
    p.set_keyframe(9, a.id, "points", {}, labels)
    p.delete_object(a.id)
    assert set(np.unique(p.keyframe_labels(0))) == {0, b.id}
    assert p.keyframe_frames() == [0]  # a keyframe only a was given on is gone


def test_refusals(tmp_path):
    with pytest.raises(GazevosError, match="not a studio project"):
        Project(tmp_path / "none")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(GazevosError, match="not empty"):
        Project(tmp_path / "full", recording=tmp_path)
    Project(tmp_path / "p", recording=tmp_path / "r1").close()
    with pytest.raises(GazevosError, match="belongs to the recording"):
        Project(tmp_path / "p", recording=tmp_path / "r2")
    p = Project(tmp_path / "q", recording=tmp_path, recording_fingerprint="aa")
    p.close()
    with pytest.raises(GazevosError, match="has changed"):
        Project(tmp_path / "q", recording=tmp_path, recording_fingerprint="bb")
    p = Project(tmp_path / "q")
    with pytest.raises(GazevosError, match="colour"):
        p.add_object("x", "blue")
    with pytest.raises(GazevosError, match="name"):
        p.add_object("   ")


def test_timeline_states(studio):
    """Per frame and object: not tracked, visible, low confidence, lost, keyframe."""
    from gazevos.studio import service

    st = studio
    o = service.add_object(st, "cup")
    labels = np.zeros((180, 320), np.uint8)
    labels[10:20, 10:20] = o.id
    st.project.set_keyframe(2, o.id, "box", {"box": [10, 10, 20, 20]}, labels)
    st.project.record_tracked([(3, {o.id: 100}, {o.id: 0.9}), (4, {o.id: 80}, {o.id: 0.2}),
                               (5, {o.id: 0}, {o.id: 0.0}), (2, {o.id: 100}, {o.id: 1.0})])
    lane = service.timeline(st)[o.id]
    assert len(lane) == st.n_frames
    assert lane[:7] == "--kvcl-"
    assert service.untracked_spans(st) == [(0, 2), (6, st.n_frames)]
    st.project.clear_tracked(4, 5)
    assert service.timeline(st)[o.id][:7] == "--kv-l-"


def test_a_keyframe_on_an_untracked_frame_keeps_the_other_objects(studio, sample):
    """Marking a second object on a frame not tracked yet tracks that frame first, so the
    first object is in the new keyframe's map (a keyframe is a whole label map)."""
    from _studio_helpers import box_of

    from gazevos.studio import service

    st = studio
    mug, book = service.add_object(st, "mug"), service.add_object(st, "book")
    service.set_keyframe(st, 0, mug.id, service.Prompt(box=tuple(box_of(sample.boxes[0]))))
    x0, y0, x1, y1 = box_of(sample.boxes[1])
    span = service.set_keyframe(st, 10, book.id, service.Prompt(box=(x0 + 1, y0, x1 + 1, y1)))
    assert span == (1, st.n_frames)
    ids = set(np.unique(st.project.keyframe_labels(10)).tolist())
    assert ids == {0, mug.id, book.id}
