"""The annotate pipeline end to end on a small generated recording (320x180, 2 s, 60 frames)."""

from __future__ import annotations

import json
import re
import shutil

import av
import numpy as np
import pandas as pd
import pytest

from _interrupt import stop_at_mask
from gazevos.errors import GazevosError
from gazevos.gaze.annotate import AnnotateConfig, annotate
from gazevos.gaze.demo import demo_report, make_demo_sample
from gazevos.gaze.prompts import ObjectPrompt, build_prompts
from gazevos.io import read_mask

TRACKER = "flow"  # fast and training-free; the pipeline, not the tracker, is under test


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_demo_sample(tmp_path_factory.mktemp("demo") / "sample", width=320, height=180,
                            duration=2.0)


@pytest.fixture(scope="module")
def run(sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("annotated") / "out"
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    result = annotate(sample.root, prompts, out, tracker=TRACKER, progress=False)
    return sample, prompts, result


def _copy(sample, tmp_path):
    root = tmp_path / "rec"
    shutil.copytree(sample.root, root, ignore=shutil.ignore_patterns("groundtruth"))
    return root


def test_writes_masks_tables_and_matches_the_script(run):
    sample, prompts, result = run
    out = result.out_dir
    assert result.n_frames == sample.n_frames == 60
    masks = sorted((out / "masks").glob("*.png"))
    assert [p.name for p in masks] == [f"{i:05d}.png" for i in range(60)]
    first = read_mask(masks[0])
    assert first.shape == (180, 320) and set(np.unique(first).tolist()) == {0, 1, 2}
    assert 3 in np.unique(read_mask(masks[-1]))  # the ball, given by a point on frame 27
    assert 3 not in np.unique(read_mask(masks[26]))
    for stem in ("gaze_samples", "fixations", "metrics", "transitions"):
        csv = pd.read_csv(out / f"{stem}.csv")
        pq = pd.read_parquet(out / f"{stem}.parquet")
        assert len(csv) == len(pq) > 0
    samples = pd.read_parquet(out / "gaze_samples.parquet")
    gaze_rows = sum(1 for _ in open(sample.root / "exports/000/gaze_positions.csv")) - 1
    assert len(samples) == gaze_rows  # nothing dropped
    assert {"frame", "flag", "object_id", "hit", "fixation_id", "tolerance_px"} <= set(
        samples.columns)
    assert (samples.loc[samples["confidence"] < 0.6, "flag"] == "low_confidence").all()
    assert (samples["flag"] == "low_confidence").sum() > 0  # the scripted blink
    check = demo_report(sample, result.metrics, out / "masks").set_index("object")
    for name in ("mug", "book", "ball"):
        assert check.loc[name, "visits"] == check.loc[name, "scripted_visits"] == 2
        assert abs(check.loc[name, "fixation_s"] - check.loc[name, "scripted_fixation_s"]) < 0.1
        assert check.loc[name, "mask_iou"] > 0.6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 60 and summary["tracker"] == TRACKER
    assert [o["name"] for o in summary["objects"]] == ["mug", "book", "ball"]


def test_overlay_has_one_frame_per_video_frame(run):
    _, _, result = run
    with av.open(str(result.out_dir / "overlay.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 60 and frames[0].shape == (180, 320, 3)
    if "libx264" in av.codecs_available:    # encoded with the cheap preset, one thread
        data = (result.out_dir / "overlay.mp4").read_bytes()
        assert b"subme=1 " in data and b" threads=1 " in data


def test_report_is_self_contained(run):
    _, _, result = run
    html = (result.out_dir / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert not re.search(r"https?://", html)
    assert not re.search(r"<(script|link)\b", html)
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/jpeg;base64,") for s in srcs)
    assert "<svg" in html and "<style>" in html
    for name in ("mug", "book", "ball"):
        assert name in html


def test_refuses_a_non_empty_folder_and_resumes(run):
    sample, prompts, result = run
    with pytest.raises(GazevosError, match="not empty"):
        annotate(sample.root, prompts, result.out_dir, tracker=TRACKER, progress=False)
    again = annotate(sample.root, prompts, result.out_dir, tracker=TRACKER, progress=False,
                     resume=True, config=AnnotateConfig(video=False))
    assert again.tracking_resumed
    pd.testing.assert_frame_equal(again.metrics, result.metrics)
    changed = [ObjectPrompt(1, "mug", 0, "box", box=(40, 64, 90, 126))]
    third = annotate(sample.root, changed, result.out_dir, tracker=TRACKER, progress=False,
                     resume=True, config=AnnotateConfig(video=False))
    assert not third.tracking_resumed  # other objects: the masks are redone


def test_calibration_correction_undoes_the_offset(sample, tmp_path):
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    res = annotate(sample.root, prompts, tmp_path / "out", tracker=TRACKER, progress=False,
                   config=AnnotateConfig(correct_calibration="offset", video=False))
    ox, oy = sample.calibration_offset  # added to the true gaze: (+5.8, -3.2) px
    corr = res.correction
    assert corr is not None and corr.model == "offset"
    assert np.hypot(corr.dx + ox, corr.dy + oy) < 0.6 * np.hypot(ox, oy)
    s = res.samples
    assert np.allclose(s["x"] - s["x_raw"], corr.dx, equal_nan=True)


def test_gaze_outside_the_frame_is_a_flagged_row(sample, tmp_path):
    root = _copy(sample, tmp_path)
    gaze_file = root / "exports/000/gaze_positions.csv"
    gaze = pd.read_csv(gaze_file)
    gaze.loc[100:109, "norm_pos_x"] = 1.4  # ten samples right of the image
    gaze.to_csv(gaze_file, index=False)
    prompts = build_prompts(boxes=sample.boxes)
    res = annotate(root, prompts, tmp_path / "out", tracker=TRACKER, progress=False,
                   config=AnnotateConfig(video=False))
    s = res.samples
    assert len(s) == len(gaze)
    assert (s.loc[100:109, "flag"] == "outside_frame").all()
    assert (s.loc[100:109, "hit"] == "invalid").all()
    assert (s.loc[100:109, "object_id"] == 0).all()


def test_bad_inputs_are_one_line_errors(sample, tmp_path):
    prompts = build_prompts(boxes=sample.boxes)
    cases = []
    root = _copy(sample, tmp_path)  # 5 frame timestamps fewer than video frames
    ts = np.load(root / "exports/000/world_timestamps.npy")
    np.save(root / "exports/000/world_timestamps.npy", ts[:-5])
    cases.append((root, prompts, {}, "60 frames but the recording has 55"))
    outside = [ObjectPrompt(1, "mug", 0, "box", box=(300, 10, 330, 40))]
    cases.append((sample.root, outside, {}, "outside the 320x180 frame"))
    late = [ObjectPrompt(1, "mug", 60, "point", point=(10, 10))]
    cases.append((sample.root, late, {}, "frames 0..59"))
    cases.append((sample.root, prompts, {"recording_format": "bogus"},
                  "unknown recording format"))
    cases.append((sample.root, [], {}, "no object"))
    cases.append((tmp_path / "missing", prompts, {}, "no such recording"))
    for k, (rec, prm, kw, message) in enumerate(cases):
        with pytest.raises(GazevosError, match=message) as err:
            annotate(rec, prm, tmp_path / f"out{k}", tracker=TRACKER, progress=False, **kw)
        assert "\n" not in str(err.value)
    with pytest.raises(GazevosError, match="calibration correction"):
        annotate(sample.root, prompts, tmp_path / "outc", tracker=TRACKER, progress=False,
                 config=AnnotateConfig(correct_calibration="rotate"))


def test_an_interrupted_run_resumes_mid_pass_to_the_same_outputs(run, tmp_path, monkeypatch):
    """Ctrl-C at frame 30 of 60, then --resume: the pass continues from its saved state and
    the outputs equal the uninterrupted run's."""
    import gazevos.gaze.annotate as mod
    from gazevos.io.rundir import read_manifest, staging_path

    sample, prompts, _ = run
    # a reference of its own: other tests replace the shared run's folder
    every = AnnotateConfig(track_rate=0)  # every frame tracked: a state after each frame
    result = annotate(sample.root, prompts, tmp_path / "ref", tracker=TRACKER,
                      progress=False, config=every)
    out = tmp_path / "out"
    real_write = stop_at_mask(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        annotate(sample.root, prompts, out, tracker=TRACKER, progress=False,
                 checkpoint_seconds=0.0, config=every)
    assert not out.exists()  # nothing half-done in place
    stage = staging_path(out)
    assert (stage / mod.TRACK_STATE).is_file()
    # --resume continues from the state saved after frame 29
    seen = []
    monkeypatch.setattr(mod, "write_mask", lambda p, lab: (seen.append(p.name),
                                                           real_write(p, lab)))
    again = annotate(sample.root, prompts, out, tracker=TRACKER, progress=False, resume=True,
                     config=every)
    assert seen[0] == "00030.png" and len(seen) == 30  # only the second half was tracked
    assert read_manifest(out)["complete"] is True
    assert not (out / mod.TRACK_STATE).exists() and not stage.exists()
    for i in range(60):
        np.testing.assert_array_equal(read_mask(out / "masks" / f"{i:05d}.png"),
                                      read_mask(result.out_dir / "masks" / f"{i:05d}.png"))
    pd.testing.assert_frame_equal(again.metrics, result.metrics)
    pd.testing.assert_frame_equal(again.samples, result.samples)


def test_force_leaves_nothing_of_the_earlier_run(run, tmp_path):
    sample, prompts, _ = run
    out = tmp_path / "out"
    annotate(sample.root, prompts, out, tracker=TRACKER, progress=False)
    (out / "masks" / "99999.png").write_bytes(b"stale mask of another run")
    one = [p for p in prompts if p.name == "mug"]
    again = annotate(sample.root, one, out, tracker=TRACKER, progress=False, force=True,
                     config=AnnotateConfig(video=False))
    assert not (out / "masks" / "99999.png").exists()
    assert not (out / "overlay.mp4").exists()  # not written by the new run: gone
    assert list(again.metrics["object"]) == ["(no object)", "mug"]
    assert len(list((out / "masks").iterdir())) == 60


def test_writes_the_aoi_tables(sample, tmp_path):
    prompts = build_prompts(boxes=sample.boxes, points=sample.points)
    result = annotate(sample.root, prompts, tmp_path / "out", tracker=TRACKER, progress=False,
                      config=AnnotateConfig(video=False))
    assert "aoi/" in json.loads((result.out_dir / "manifest.json").read_text())["files"]
    aoi = pd.read_csv(result.out_dir / "aoi" / "object_states.csv")
    assert len(aoi) == result.n_frames * len(prompts)  # one row per frame and object
    assert set(aoi["state"]) <= {"visible", "not_started", "lost", "out_of_frame"}
    for stem in ("aoi_metrics", "visits", "aoi_transitions", "entropy"):
        assert (result.out_dir / "aoi" / f"{stem}.parquet").is_file()


def test_unusable_gaze_fails_before_any_tracking(sample, tmp_path, monkeypatch):
    import gazevos.gaze.annotate as mod

    root = _copy(sample, tmp_path)
    gaze_file = root / "exports/000/gaze_positions.csv"
    gaze = pd.read_csv(gaze_file)
    gaze["norm_pos_x"] = np.nan
    gaze.to_csv(gaze_file, index=False)

    def never(*args, **kwargs):
        raise AssertionError("tracking started although no gaze sample is usable")

    monkeypatch.setattr(mod, "track_objects", never)
    with pytest.raises(GazevosError, match="gaze_positions.csv") as err:
        annotate(root, build_prompts(boxes=sample.boxes), tmp_path / "out", tracker=TRACKER,
                 progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("fps", "rate", "stride"), [
    (30.0, 15.0, 2), (25.0, 15.0, 1), (24.0, 15.0, 1), (60.0, 15.0, 4), (200.0, 15.0, 13),
    (30.0, 0.0, 1), (30.0, 30.0, 1), (29.97, 15.0, 1), (30.0, 10.0, 3)])
def test_track_stride_keeps_at_least_the_asked_rate(fps, rate, stride):
    from gazevos.gaze.annotate import track_stride

    times = np.arange(100) / fps
    assert track_stride(times, rate) == stride
    if rate > 0:
        assert fps / stride >= rate - 1e-6


def test_track_stride_of_unknown_rates_is_one():
    from gazevos.gaze.annotate import track_stride

    assert track_stride(np.array([0.0]), 15.0) == 1
    assert track_stride(np.zeros(10), 15.0) == 1
