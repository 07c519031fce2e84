"""The passes trailing the tracker: the same outputs as the passes after it, and nothing
left behind when the tracking fails."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

from _interrupt import stop_at_mask
from gazevos.errors import GazevosError
from gazevos.gaze.annotate import AnnotateConfig, annotate
from gazevos.gaze.demo import make_demo_sample
from gazevos.gaze.prompts import build_prompts
from gazevos.io.recordings import read_recording
from gazevos.report.annotation import render_overlays, report_frame_indices
from gazevos.report.trailing import FrameGate, FramePool, LabelBuffer, Stopped
from gazevos.track import build_tracker


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_demo_sample(tmp_path_factory.mktemp("demo") / "s", width=320, height=180,
                            duration=2.0)


def test_frame_gate_waits_for_the_frame_and_stops_on_close() -> None:
    gate = FrameGate()
    got: list[object] = []

    def waiter(i: int) -> None:
        try:
            gate.wait(i)
            got.append(i)
        except Stopped:
            got.append("stopped")

    t = threading.Thread(target=waiter, args=(2,))
    t.start()
    gate.advance(2)                     # frames 0, 1 done: frame 2 is not
    time.sleep(0.05)
    assert got == [] and gate.done == 2
    gate.advance(1)                     # going back changes nothing
    assert gate.done == 2
    gate.advance(3)
    t.join(2)
    assert got == [2]
    t = threading.Thread(target=waiter, args=(10,))
    t.start()
    gate.close()
    t.join(2)
    assert got == [2, "stopped"] and not t.is_alive()
    gate.wait(1)                        # done frames still pass after close


@pytest.mark.parametrize(("width", "fed"), [(960, True), (160, True), (250, False)])
def test_trailing_overlay_equals_the_pass_after_tracking(sample, tmp_path, monkeypatch,
                                                         width, fed):
    """Full size and half size (a whole factor) take the tracker's frames, 250 px wide
    decodes the video again; every way gives the video the pass after tracking makes."""
    import gazevos.report.trailing as trailing_mod

    handed = []
    real_put = trailing_mod.FramePool.put
    monkeypatch.setattr(trailing_mod.FramePool, "put",
                        lambda pool, i, img, lab: (handed.append((img.shape, lab.shape)),
                                                   real_put(pool, i, img, lab)))
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    cfg = AnnotateConfig(video_width=width)
    res = annotate(sample.root, prompts, tmp_path / "out", tracker="flow", progress=False,
                   config=cfg)
    assert len(handed) == (60 if fed else 0)
    if fed:
        assert handed[0] == (((180, 320, 3), (180, 320)) if width >= 320
                             else ((90, 160, 3), (90, 160)))
    assert not (res.out_dir / trailing_mod.POOL_DIR).exists()
    trailing = (res.out_dir / "overlay.mp4").read_bytes()
    assert "after tracking" in res.timings
    names = {p.object_id: p.name for p in prompts}
    picks = report_frame_indices(res.fixations, res.n_frames, AnnotateConfig.report_frames)
    rec = read_recording(sample.root)
    pictures = render_overlays(res, rec, names, True, picks, progress=False, width=width)
    # x264 with one thread is deterministic: equal frames give equal files
    assert (res.out_dir / "overlay.mp4").read_bytes() == trailing
    html = (res.out_dir / "report.html").read_text()
    assert len(pictures) == len(picks) >= 3
    for caption, _ in pictures:
        assert caption in html


def test_calibration_correction_draws_the_overlay_after_tracking(sample, tmp_path):
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    res = annotate(sample.root, prompts, tmp_path / "out", tracker="flow", progress=False,
                   config=AnnotateConfig(correct_calibration="offset"))
    assert "after tracking" not in res.timings
    assert (res.out_dir / "overlay.mp4").stat().st_size > 0


def test_a_tracker_failing_mid_run_stops_the_trailing_threads(sample, tmp_path, monkeypatch):
    trk = build_tracker("flow")
    real_step = trk.step
    calls = []

    def step(image, mask=None, objects=None):
        calls.append(1)
        if len(calls) == 25:
            raise GazevosError("tracker broke")
        return real_step(image, mask=mask, objects=objects)

    monkeypatch.setattr(trk, "step", step)
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    out = tmp_path / "out"
    with pytest.raises(GazevosError, match="tracker broke"):
        annotate(sample.root, prompts, out, tracker=trk, progress=False)
    assert not out.exists()
    deadline = time.time() + 5
    while time.time() < deadline and any(t.name.startswith("gazevos-trail")
                                         for t in threading.enumerate()):
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("gazevos-trail")]
    # the staging folder keeps no overlay video, whole or partial
    leftovers = [p.name for p in tmp_path.rglob("*overlay*")]
    assert leftovers == []


def test_masks_on_disk_are_read_once_ready(sample, tmp_path):
    """A reused run (masks already there) goes through the trailing passes at once."""
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    first = annotate(sample.root, prompts, tmp_path / "out", tracker="flow", progress=False)
    again = annotate(sample.root, prompts, tmp_path / "out", tracker="flow", progress=False,
                     resume=True, config=AnnotateConfig(tolerance_deg=3.0))
    assert again.tracking_resumed
    assert (again.samples["hit"] == "near").sum() >= (first.samples["hit"] == "near").sum()
    np.testing.assert_array_equal(again.samples["frame"], first.samples["frame"])


def test_every_other_frame_tracked_still_trails_to_the_same_video(sample, tmp_path):
    """With --track-rate the masks are written in frame order too (the frames in between
    take a tracked frame's labels): the trailing overlay equals the pass after tracking."""
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    res = annotate(sample.root, prompts, tmp_path / "out", tracker="flow", progress=False,
                   config=AnnotateConfig(track_rate=15))
    assert json.loads((res.out_dir / "tracking.json").read_text())["stride"] == 2
    trailing = (res.out_dir / "overlay.mp4").read_bytes()
    names = {p.object_id: p.name for p in prompts}
    render_overlays(res, read_recording(sample.root), names, True, [], progress=False,
                    width=AnnotateConfig.video_width)
    assert (res.out_dir / "overlay.mp4").read_bytes() == trailing


def test_frame_pool_spills_beyond_its_capacity_and_cleans_up(tmp_path):
    pool = FramePool(tmp_path / "pool", capacity=2)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (3, 4, 3), dtype=np.uint8) for _ in range(5)]
    labels = [rng.integers(0, 3, (3, 4), dtype=np.uint8) for _ in range(5)]
    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        pool.put(i, img, lab)
    assert pool.spilled == 3 and len(list((tmp_path / "pool").iterdir())) == 3
    img, lab = pool.take(3)
    np.testing.assert_array_equal(img, images[3])
    np.testing.assert_array_equal(lab, labels[3])
    assert len(list((tmp_path / "pool").iterdir())) == 2
    for i in (0, 1, 2, 4):
        img, lab = pool.take(i)
        assert img.shape == (3, 4, 3) and lab.shape == (3, 4)
        np.testing.assert_array_equal(img, images[i])
        np.testing.assert_array_equal(lab, labels[i])
    assert pool.take(4) is None and pool.take(7) is None
    pool.put(9, images[1], labels[1])
    pool.close()
    assert not (tmp_path / "pool").exists()


def test_a_full_frame_pool_falls_back_to_decoding(sample, tmp_path, monkeypatch):
    """With room for 2 frames in memory and 5 on disk the pool drops frames while the
    overlay waits for the fixations; the overlay decodes the video from the first dropped
    frame and the video still equals the pass after tracking."""
    import gazevos.report.trailing as trailing_mod

    monkeypatch.setattr(trailing_mod.FramePool.__init__, "__defaults__", (2, 5))
    seen = []
    real_close = trailing_mod.FramePool.close
    monkeypatch.setattr(trailing_mod.FramePool, "close",
                        lambda pool: (seen.append(pool.dropped_from), real_close(pool)))
    real_events = trailing_mod.TrailingOutputs._overlay_work

    def slow_start(self):          # the fixations arrive late: frames pile up
        self.masks.wait(40)
        return real_events(self)

    monkeypatch.setattr(trailing_mod.TrailingOutputs, "_overlay_work", slow_start)
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    res = annotate(sample.root, prompts, tmp_path / "out", tracker="flow", progress=False)
    assert seen and seen[0] == 7           # 2 in memory, 5 on disk, frame 7 dropped
    trailing = (res.out_dir / "overlay.mp4").read_bytes()
    names = {p.object_id: p.name for p in prompts}
    render_overlays(res, read_recording(sample.root), names, True, [], progress=False,
                    width=AnnotateConfig.video_width)
    assert (res.out_dir / "overlay.mp4").read_bytes() == trailing


def test_frames_left_by_a_killed_run_do_not_reach_the_output(sample, tmp_path, monkeypatch):
    import gazevos.gaze.annotate as mod
    import gazevos.report.trailing as trailing_mod
    from gazevos.io.rundir import staging_path

    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    out = tmp_path / "out"
    real_write = stop_at_mask(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        annotate(sample.root, prompts, out, tracker="flow", progress=False,
                 checkpoint_seconds=0.0)
    stage = staging_path(out)
    assert not (stage / trailing_mod.POOL_DIR).exists()      # the stop cleaned up
    (stage / trailing_mod.POOL_DIR).mkdir()                   # as a killed run leaves it
    (stage / trailing_mod.POOL_DIR / "000031.raw").write_bytes(b"\0" * 12)
    monkeypatch.setattr(mod, "write_mask", real_write)
    annotate(sample.root, prompts, out, tracker="flow", progress=False, resume=True)
    assert not (out / trailing_mod.POOL_DIR).exists()
    assert (out / "overlay.mp4").stat().st_size > 0


def test_a_frame_pool_that_cannot_write_drops_instead_of_failing(tmp_path, monkeypatch):
    import gazevos.report.trailing as trailing_mod

    def full_disk(path, arrays):
        path.write_bytes(b"\0")         # a partial file, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trailing_mod, "_spill", full_disk)
    pool = FramePool(tmp_path / "pool", capacity=1)
    img, lab = np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)
    pool.put(0, img, lab)
    pool.put(1, img, lab)               # memory full, the disk refuses it
    pool.put(2, img, lab)
    assert pool.dropped_from == 1 and pool.spilled == 0
    assert list((tmp_path / "pool").iterdir()) == []
    assert pool.take(0) is not None and pool.take(1) is None and pool.take(2) is None
    pool.close()


def test_label_buffer_keeps_maps_within_its_budget():
    buf = LabelBuffer(max_bytes=2 * 12)
    maps = [np.full((3, 4), i, np.uint8) for i in range(4)]
    for i, m in enumerate(maps):
        buf.put(i, m)                   # 12 bytes each: frames 2 and 3 find no room
    assert buf.take(2) is None and buf.take(3) is None
    np.testing.assert_array_equal(buf.take(0), maps[0])
    assert buf.take(0) is None
    buf.put(3, maps[3])                 # room again
    np.testing.assert_array_equal(buf.take(3), maps[3])
    buf.put(1, maps[1])
    buf.clear()
    assert buf.take(1) is None


def test_the_gaze_thread_takes_the_handed_labels_instead_of_reading(sample, tmp_path,
                                                                    monkeypatch):
    """With room, the gaze thread reads no mask back; without, it reads every one; the
    tables are the same."""
    import gazevos.report.trailing as trailing_mod

    reads = []
    real_read = trailing_mod.read_mask
    monkeypatch.setattr(trailing_mod, "read_mask",
                        lambda path: (reads.append(path.name), real_read(path))[1])
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    runs = []
    for budget in (64 << 20, 0):
        monkeypatch.setattr(trailing_mod.LabelBuffer.__init__, "__defaults__", (budget,))
        reads.clear()
        res = annotate(sample.root, prompts, tmp_path / f"out{budget}", tracker="flow",
                       progress=False, config=AnnotateConfig(video=False))
        assert len(reads) == (0 if budget else res.n_frames)
        runs.append(res)
    for a, b in [(r.samples, runs[1].samples) for r in runs[:1]] + \
            [(runs[0].fixations, runs[1].fixations), (runs[0].metrics, runs[1].metrics)]:
        pd.testing.assert_frame_equal(a, b)
