"""Gaze-to-frame synchronisation: frame by timestamp, flags, frame-count checks."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gazevos.config import load_config
from gazevos.errors import GazevosError
from gazevos.gaze.sync import (
    FLAGS,
    SYNC_COLUMNS,
    WARNING_PREFIX,
    GazeSynchroniser,
    GazeWarning,
    SyncConfig,
    assign_frames,
    sync_gaze,
)
from gazevos.io.recordings import read_recording
from gazevos.io.recordings.base import Recording
from gazevos.io.video import VideoWriter


def _recording(t, x, y, conf, frame_times, video: Path | None = None,
               meta: dict | None = None) -> Recording:
    gaze = pd.DataFrame({"time": np.asarray(t, float), "x": np.asarray(x, float),
                         "y": np.asarray(y, float), "confidence": np.asarray(conf, float)})
    return Recording(format="generic", root=Path("."), video_path=video,
                     frame_times=np.asarray(frame_times, float), resolution=(64, 48), gaze=gaze,
                     meta=meta or {})


def test_assign_frames_by_display_interval():
    ft = np.array([0.0, 0.1, 0.2, 0.3])  # median interval 0.1: last frame shown until 0.4
    t = np.array([-0.01, 0.0, 0.05, 0.1, 0.2999, 0.3, 0.3999, 0.4, 1.0])
    frame, where = assign_frames(t, ft)
    np.testing.assert_array_equal(frame, [-1, 0, 0, 1, 2, 3, 3, -1, -1])
    np.testing.assert_array_equal(where, [-1, 0, 0, 0, 0, 0, 0, 1, 1])
    frame, where = assign_frames(np.array([0.45]), ft, last_frame_duration=0.2)
    assert frame[0] == 3 and where[0] == 0


def test_assignment_uses_time_not_row_order():
    rng = np.random.default_rng(0)
    ft = np.cumsum(rng.uniform(0.02, 0.05, size=30))
    t = rng.uniform(ft[0], ft[-1], size=200)
    frame, _ = assign_frames(t, ft)
    expected = [max(i for i in range(len(ft)) if ft[i] <= ti) for ti in t]  # by definition
    np.testing.assert_array_equal(frame, expected)
    order = rng.permutation(len(t))
    np.testing.assert_array_equal(assign_frames(t[order], ft)[0], frame[order])


def test_flags_and_their_precedence():
    nan = np.nan
    rec = _recording(
        t=[-1.0, 0.05, 0.06, 0.07, 0.08, 0.09, 0.11, 0.12, 0.13, 5.0],
        x=[nan, nan, 10.0, 70.0, 63.99, 64.0, 10.0, 10.0, 0.0, 10.0],
        y=[10., 10.0, 10.0, 10.0, 47.99, 10.0, -0.1, 10.0, 0.0, 10.0],
        conf=[0.0, 0.0, 0.5, 0.5, 0.6, 1.0, 1.0, nan, 1.0, 1.0],
        frame_times=[0.0, 0.1, 0.2])
    with pytest.warns(GazeWarning, match="only 2 of 10 gaze samples"):
        res = sync_gaze(rec)
    assert list(res.samples.columns) == list(SYNC_COLUMNS)
    assert list(res.samples["flag"]) == [
        "before_video",    # also missing: timing wins
        "missing",         # also low confidence
        "low_confidence",
        "low_confidence",  # also outside: confidence wins
        "ok",              # conf == threshold, inside by 0.01 px
        "outside_frame",   # x == width is outside
        "outside_frame",   # y < 0
        "low_confidence",  # NaN confidence
        "ok",              # the (0, 0) corner is inside
        "after_video"]
    np.testing.assert_array_equal(res.samples["frame"], [-1, 0, 0, 0, 0, 0, 1, 1, 1, -1])
    assert res.counts == {"before_video": 1, "after_video": 1, "missing": 1,
                          "low_confidence": 3, "outside_frame": 2, "ok": 2}
    assert sum(res.counts.values()) == len(rec.gaze) and set(res.counts) == set(FLAGS)
    assert res.summary().startswith("10 samples: ok 2, outside_frame 2")


def test_confidence_threshold_from_config():
    rec = _recording([0.01, 0.02], [1, 1], [1, 1], [0.3, 0.7], [0.0, 0.1])
    assert list(sync_gaze(rec).samples["flag"]) == [
        "low_confidence", "ok"]
    cfg = load_config(SyncConfig, overrides={"min_confidence": 0.2})
    assert cfg.min_confidence == 0.2
    assert list(GazeSynchroniser(cfg)(rec).samples["flag"]) == ["ok", "ok"]


def test_no_frames_or_a_single_frame():
    with pytest.raises(GazevosError, match="no scene-frame timestamps"):
        sync_gaze(_recording([0.0], [1], [1], [1], []))
    one = _recording([0.0, 0.5], [1, 1], [1, 1], [1, 1], [0.0])
    with pytest.raises(GazevosError, match="last_frame_duration"):
        sync_gaze(one)
    res = sync_gaze(one, SyncConfig(last_frame_duration=0.4))
    assert list(res.samples["flag"]) == ["ok", "after_video"]


@pytest.fixture(scope="module")
def video12(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("v") / "v.mp4"
    with VideoWriter(path, 10) as w:
        for _ in range(12):
            w.write(np.zeros((48, 64, 3), np.uint8))
    return path


def test_frame_count_must_match_the_video(video12):
    t = [0.05, 1.25]
    ok = sync_gaze(_recording(t, [1, 1], [1, 1], [1, 1], np.arange(12) / 10, video12))
    assert ok.notes == [] and len(ok.frame_times) == 12
    # one extra timestamp: tolerated, cut to the video's 12 frames, and said so
    extra = sync_gaze(_recording(t, [1, 1], [1, 1], [1, 1], np.arange(13) / 10, video12))
    assert len(extra.frame_times) == 12 and "12 frames and 13 frame timestamps" in extra.notes[0]
    assert list(extra.samples["flag"]) == ["ok", "after_video"]  # 1.25 s is past frame 11
    with pytest.raises(GazevosError, match="12 frames but the recording has 14") as err:
        sync_gaze(_recording(t, [1, 1], [1, 1], [1, 1], np.arange(14) / 10, video12))
    assert str(err.value).startswith(str(video12))
    with pytest.raises(GazevosError):
        sync_gaze(_recording(t, [1, 1], [1, 1], [1, 1], np.arange(11) / 10, video12),
                  SyncConfig(frame_count_tolerance=0))
    skipped = sync_gaze(_recording(t, [1, 1], [1, 1], [1, 1], np.arange(20) / 10, video12),
                        SyncConfig(check_video=False))
    assert len(skipped.frame_times) == 20


def test_bleach_naruto_sync(pupil_core):
    rec = read_recording(pupil_core / "bleach-naruto")
    res = sync_gaze(rec)
    s = res.samples
    assert len(s) == 775 and res.notes == []  # 205 frames in world.mp4 and 205 timestamps
    assert res.counts["ok"] == 775  # Player exported only confidence >= 0.6, all in frame
    f = s["frame"].to_numpy()
    t = s["time"].to_numpy()
    ft = rec.frame_times
    # the last sample (322073.243615) comes 29 ms before the last frame (322073.272518)
    assert f.min() == 0 and f.max() == 203
    assert np.all(ft[f] <= t) and np.all(t < ft[f + 1])
    # first sample 322066.439728 s lies in frame 0 = [322066.436653, 322066.468834)
    assert f[0] == 0


# ----------------------------------------------------------------------------- usable gaze
_FT = np.arange(50) / 10.0  # frames 0.0 .. 4.9 s, shown until 5.0 s


def _gaze(n: int, t=None, x=10.0, y=10.0, conf=1.0) -> Recording:
    t = np.linspace(1.0, 2.0, n) if t is None else t
    return _recording(t, np.broadcast_to(x, (n,)), np.broadcast_to(y, (n,)),
                      np.broadcast_to(conf, (n,)), _FT, meta={"gaze_file": "rec/gaze.csv"})


@pytest.mark.parametrize(("rec", "reason"), [
    (_gaze(300, t=np.linspace(10.0, 20.0, 300)),
     "no gaze sample falls inside the video's time span (gaze 10.000-20.000 s, video "
     "0.000-5.000 s)"),
    (_gaze(300, x=np.nan), "all 300 gaze samples are NaN (no gaze position)"),
    (_gaze(300, t=np.linspace(10.0, 20.0, 300), x=np.nan),
     "all 300 gaze samples are NaN (no gaze position)"),
    (_gaze(40, conf=0.5), "all 40 gaze samples have a confidence below the minimum 0.6"),
    (_gaze(40, x=64.0), "all 40 gaze samples lie outside the 64x48 video frame (wrong "
                        "coordinates or resolution?)"),
    (_gaze(4, t=[-1.0, 1.0, 2.0, 9.0], conf=[1.0, 0.1, 0.2, 1.0]),
     "none of the 4 gaze samples is usable (before_video 1, after_video 1, "
     "low_confidence 2)"),
    (_gaze(0), "the recording has no gaze samples"),
])
def test_no_usable_gaze_is_an_error_naming_the_gaze_file(rec, reason):
    with pytest.raises(GazevosError) as err:
        sync_gaze(rec)
    assert str(err.value) == f"rec/gaze.csv: no usable gaze: {reason}"
    assert err.value.path == "rec/gaze.csv"


def test_without_a_gaze_file_the_recording_is_named():
    rec = _gaze(5, x=np.nan)
    rec.meta.clear()
    rec.root = Path("/data/rec1")
    with pytest.raises(GazevosError, match=r"^/data/rec1: no usable gaze: all 5 gaze"):
        sync_gaze(rec)


def test_unusable_gaze_is_only_a_warning_when_not_required():
    with pytest.warns(GazeWarning) as seen:
        res = sync_gaze(_gaze(3, x=np.nan), SyncConfig(require_usable=False))
    text = "rec/gaze.csv: no usable gaze: all 3 gaze samples are NaN (no gaze position)"
    assert [str(w.message) for w in seen] == [text]
    assert res.warnings == [text] and res.notes == [WARNING_PREFIX + text]
    assert res.counts["missing"] == 3


def test_few_usable_samples_warn_with_the_figures():
    # 10 samples: 4 ok, 3 NaN, 2 after the video, 1 low confidence -> 40 % usable
    t = [1.0] * 8 + [6.0, 7.0]
    x = [10.0] * 4 + [np.nan] * 3 + [10.0] * 3
    conf = [1.0] * 7 + [0.1, 1.0, 1.0]
    rec = _recording(t, x, [10.0] * 10, conf, _FT, meta={"gaze_file": "g.csv"})
    with pytest.warns(GazeWarning) as seen:
        res = sync_gaze(rec)
    text = ("g.csv: only 4 of 10 gaze samples (40.0 %) are usable (after_video 2, missing 3, "
            "low_confidence 1); the results rest on few samples")
    assert [str(w.message) for w in seen] == [text]
    assert res.warnings == [text] and res.notes == [WARNING_PREFIX + text]
    assert res.counts["ok"] == 4


def test_the_usable_threshold_is_a_setting():
    rec = _recording([1.0, 1.1, 1.2, 9.0], [10.0] * 4, [10.0] * 4, [1.0] * 4, _FT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 3 of 4 usable: nothing to say at 50 %
        assert sync_gaze(rec).warnings == []
        strict = load_config(SyncConfig, overrides={"min_usable_fraction": 0.9})
    with pytest.warns(GazeWarning, match=r"only 3 of 4 gaze samples \(75.0 %\)"):
        assert len(sync_gaze(rec, strict).warnings) == 1
    exactly_half = _recording([1.0, 9.0], [10.0] * 2, [10.0] * 2, [1.0] * 2, _FT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # under the threshold, not at it
        assert sync_gaze(exactly_half).warnings == []
    with pytest.raises(GazevosError, match="setting 'min_usable_fraction' must be >= 0 and "
                                           "<= 1, got 1.5"):
        load_config(SyncConfig, overrides={"min_usable_fraction": 1.5})
