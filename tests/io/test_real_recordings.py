"""Every real recording in ../shared/data/recordings opens and annotates end to end.

Each recording is annotated once (``flow`` tracker, two box prompts on a frame inside the
video; the Pupil Player export also writes the overlay video) and the outputs are checked
against what the recording's files hold.  Skips when ../shared is absent.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gazevos.cli import main
from gazevos.gaze.sync import video_frame_count
from gazevos.io.recordings import read_recording

RECORDINGS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "recordings"

#: folder -> (format, box prompts, write the overlay video)
CASES: dict[str, tuple[str, list[str], bool]] = {
    "neon-native-multipart": (
        "neon_native", ["phone:720,940,920,1199@20", "wall:1260,0,1520,1199@20"], False),
    "pupil-player-export-monitor": (
        "pupil_core", ["monitor:190,160,1070,700@10", "cup:0,700,100,900@10"], True),
    "tobii-g3-room-1": (
        "tobii_g3", ["person:670,540,1170,1080@20", "chair:1400,750,1720,1080@20"], False),
    "tobii-g3-room-2": (
        "tobii_g3", ["wine:820,520,895,730@20", "bag:1210,480,1480,660@20"], False),
}

pytestmark = pytest.mark.shared


def _box(prompt: str) -> tuple[str, tuple[int, int, int, int], int]:
    name, rest = prompt.split(":")
    coords, frame = rest.split("@")
    x0, y0, x1, y1 = (int(v) for v in coords.split(","))
    return name, (x0, y0, x1, y1), int(frame)


@pytest.fixture(scope="module", params=sorted(CASES))
def annotated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> SimpleNamespace:
    """``gazevos annotate`` run once on one shared recording: exit code, stdout, outputs."""
    folder = RECORDINGS / request.param
    if not folder.is_dir():
        pytest.skip(f"shared recording not found at {folder}")
    fmt, boxes, overlay = CASES[request.param]
    out = tmp_path_factory.mktemp("real") / request.param
    args = ["annotate", str(folder), "--out", str(out), "--tracker", "flow", "-q"]
    for b in boxes:
        args += ["--box", b]
    if not overlay:
        args.append("--no-video")
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        code = main(args)
    return SimpleNamespace(name=request.param, folder=folder, fmt=fmt, boxes=boxes,
                           overlay=overlay, code=code, text=text.getvalue(), out=out,
                           rec=read_recording(folder))


def test_exits_0_with_every_output(annotated):
    a = annotated
    assert a.code == 0, a.text
    assert a.rec.format == a.fmt
    for name in ("report.html", "summary.json", "manifest.json", "gaze_samples.csv",
                 "fixations.csv", "metrics.csv", "transitions.csv", "metrics.parquet"):
        assert (a.out / name).is_file(), name
    assert (a.out / "overlay.mp4").is_file() == a.overlay
    n = len(a.rec.frame_times)
    if a.overlay:
        assert video_frame_count(a.out / "overlay.mp4") == n
    assert f"tracked {n} frames" in a.text and "report:" in a.text


def test_one_mask_per_frame_and_the_prompts_are_on_their_frame(annotated):
    a = annotated
    n = len(a.rec.frame_times)
    assert n == video_frame_count(a.rec.video_path)
    masks = sorted((a.out / "masks").glob("*.png"))
    assert [m.name for m in masks] == [f"{i:05d}.png" for i in range(n)]
    w, h = a.rec.resolution
    for i in (0, n // 2, n - 1):
        assert np.asarray(Image.open(masks[i])).shape == (h, w)
    for obj_id, prompt in enumerate(a.boxes, start=1):
        _, (x0, y0, x1, y1), frame = _box(prompt)
        labels = np.asarray(Image.open(masks[frame]))
        ys, xs = np.nonzero(labels == obj_id)
        assert xs.size > 0.05 * (x1 - x0) * (y1 - y0), prompt  # GrabCut kept the object
        inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        assert inside.mean() > 0.95, prompt
    summary = json.loads((a.out / "summary.json").read_text())
    assert summary["frames"] == n and summary["format"] == a.fmt
    assert summary["resolution"] == [w, h]


def test_gaze_rows_are_the_recordings_samples(annotated):
    a = annotated
    samples = pd.read_csv(a.out / "gaze_samples.csv")
    assert len(samples) == len(a.rec.gaze)
    np.testing.assert_allclose(samples["time"], a.rec.gaze["time"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(samples["x"], a.rec.gaze["x"], rtol=0, atol=1e-6)
    ok = samples["flag"] == "ok"
    assert ok.sum() > 0
    frames = samples.loc[ok, "frame"]
    assert frames.min() >= 0 and frames.max() < len(a.rec.frame_times)
    flags = json.loads((a.out / "summary.json").read_text())["sample_flags"]
    assert sum(flags.values()) == len(samples) and flags["ok"] == ok.sum()


def test_metrics_rows_one_per_object(annotated):
    a = annotated
    metrics = pd.read_csv(a.out / "metrics.csv")
    names = [_box(b)[0] for b in a.boxes]
    assert list(metrics["object"]) == ["(no object)", *names]
    assert (metrics["dwell_time"] >= 0).all() and (metrics["n_samples"] >= 0).all()
    samples = pd.read_csv(a.out / "gaze_samples.csv")
    assert metrics["n_samples"].sum() <= len(samples)
    t = a.rec.gaze["time"].to_numpy()
    # each sample counts for up to one sample interval: at most the gaze span plus one
    assert metrics["dwell_time"].sum() <= t.max() - t.min() + np.diff(t).max() + 1e-9
    assert metrics["dwell_time"].iloc[1:].sum() > 0  # gaze fell on a marked object


#: the tests of the missing-parts note run on the Neon recording only
only_neon = pytest.mark.parametrize("annotated", ["neon-native-multipart"], indirect=True)


@only_neon
def test_neon_reader_says_parts_2_and_3_lack_their_video(annotated):
    a = annotated
    assert a.rec.meta["missing_scene_parts"] == [2, 3]
    assert a.rec.video_path.name == "Neon Scene Camera v1 ps1.mp4"
    # part 1's timestamps, as the .time file holds them (int64 ns), from its first frame
    t = np.fromfile(a.folder / "Neon Scene Camera v1 ps1.time", dtype="<i8")
    np.testing.assert_allclose(a.rec.frame_times, (t - t[0]) / 1e9, rtol=0, atol=1e-9)
    gaze_ns = np.fromfile(a.folder / "gaze_200hz.time", dtype="<i8")
    assert len(a.rec.gaze) == gaze_ns.size == 2659
    flags = json.loads((a.out / "summary.json").read_text())["sample_flags"]
    outside = flags["before_video"] + flags["after_video"]
    note = a.rec.notes[0]
    assert note.startswith("scene video of parts 2, 3 is missing (Neon Scene Camera v1 "
                           "ps2.mp4, Neon Scene Camera v1 ps3.mp4: 668 frames")
    assert f"{outside} of the 2659 gaze samples lie outside it" in note


@only_neon
def test_neon_missing_parts_note_reaches_the_user(annotated):
    a = annotated
    assert "note: scene video of parts 2, 3 is missing" in a.text
    summary = json.loads((a.out / "summary.json").read_text())
    assert any(n.startswith("scene video of parts 2, 3 is missing") for n in summary["notes"])
