"""Tracking passes interrupted and resumed from their saved state equal uninterrupted ones."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from gazevos.io.frames import Frame
from gazevos.track import build_tracker
from gazevos.track.base import GridPrediction, Prediction
from gazevos.track.grid import GridResampler, argmax_labels
from gazevos.track.resumable import load_state, save_state, track_pass


def _frames(n: int = 12, h: int = 72, w: int = 96) -> list[Frame]:
    """A textured square moving right over a textured background."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    out = []
    for t in range(n):
        img = bg.copy()
        x = 10 + 3 * t
        img[20:44, x:x + 24] = (200, 40, 40)
        img[20:44:4, x:x + 24] = (250, 250, 0)
        out.append(Frame(t, img, t / 30, f"{t:05d}"))
    return out


def _first_mask(h: int = 72, w: int = 96) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[20:44, 10:34] = 1
    return m


class _Stop(KeyboardInterrupt):
    pass


def _run(tracker_name: str, state: Path | None, stop_at: int | None = None
         ) -> dict[int, np.ndarray]:
    frames = _frames()
    written: dict[int, np.ndarray] = {}
    first = _first_mask()

    def writer(frame: Frame, labels: np.ndarray) -> None:
        if stop_at is not None and frame.index == stop_at:
            raise _Stop
        written[frame.index] = labels.copy()

    track_pass(frames, build_tracker(tracker_name),
               lambda f: (first, None) if f.index == 0 else (None, None), writer,
               state_path=state, key={"k": 1}, checkpoint_seconds=0.0, progress=False)
    return written


@pytest.mark.parametrize("name", ["classic", "flow", "copy"])
def test_resumed_pass_equals_an_uninterrupted_one(tmp_path: Path, name: str) -> None:
    full = _run(name, None)
    state = tmp_path / "state.pt"
    with pytest.raises(_Stop):
        _run(name, state, stop_at=7)
    saved = load_state(state, key={"k": 1})
    assert saved is not None and saved["next_index"] == 7  # saved after frame 6
    rest = _run(name, state)
    assert sorted(rest) == list(range(7, 12))  # only the missing frames are tracked
    for i in range(7, 12):
        np.testing.assert_array_equal(rest[i], full[i])
    assert any(full[i].any() for i in range(7, 12))  # the object is still tracked


def test_a_state_for_another_key_or_damaged_is_ignored(tmp_path: Path) -> None:
    state = tmp_path / "state.pt"
    save_state(state, build_tracker("copy"), 5, 1.0, key={"k": 1})
    assert load_state(state, key={"k": 1})["next_index"] == 5
    assert load_state(state, key={"k": 2}) is None
    state.write_bytes(b"garbage")
    assert load_state(state, key={"k": 1}) is None
    assert load_state(tmp_path / "absent.pt") is None


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.usefixtures("default_signals")
def test_a_signal_mid_frame_finishes_the_frame_saves_and_stops(tmp_path: Path, sig: str) -> None:
    import os
    import signal

    signum = getattr(signal, sig)
    frames, first = _frames(), _first_mask()
    full = _run("flow", None)
    state = tmp_path / "state.pt"
    written: dict[int, np.ndarray] = {}

    class Term(Exception):
        pass

    def on_term(s: int, _f: object) -> None:  # what the CLI installs for SIGTERM
        raise Term

    def writer(frame: Frame, labels: np.ndarray) -> None:
        if frame.index == 5:
            os.kill(os.getpid(), signum)  # arrives while frame 5 is being handled
        written[frame.index] = labels.copy()

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        with pytest.raises(KeyboardInterrupt if sig == "SIGINT" else Term):
            track_pass(frames, build_tracker("flow"),
                       lambda f: (first, None) if f.index == 0 else (None, None), writer,
                       state_path=state, key=1, checkpoint_seconds=1e9, progress=False)
        assert signal.getsignal(signal.SIGTERM) is on_term  # handlers restored
    finally:
        signal.signal(signal.SIGTERM, old)
    # masks are written behind the tracker: the signal (sent while frame 5 was written)
    # stops the pass after the frame being tracked then; every mask up to it is on disk
    stop = max(written) + 1     # 12 when the signal came while the last masks were written
    assert 6 <= stop <= 12 and sorted(written) == list(range(stop))
    assert load_state(state, key=1)["next_index"] == stop  # saved at the signal, not at 30 s
    rest = _run_from(state, frames, first)
    assert sorted(rest) == list(range(stop, 12))
    for i in range(stop, 12):
        np.testing.assert_array_equal(rest[i], full[i])


def _run_from(state: Path, frames: list[Frame], first: np.ndarray) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    track_pass(frames, build_tracker("flow"),
               lambda f: (first, None) if f.index == 0 else (None, None),
               lambda f, lab: out.__setitem__(f.index, lab.copy()), state_path=state, key=1,
               progress=False)
    return out


class _IndexTracker:
    """Stands in for a tracker: frame t's labels are all ``t % 250 + 1``; records steps."""

    name = "index"

    def __init__(self) -> None:
        self.stepped: list[int] = []

    def reset(self) -> None:
        self.stepped = []

    def step(self, frame, mask=None, objects=None):  # noqa: ANN001, ANN201
        t = int(frame[0, 0, 0])
        self.stepped.append(t)
        labels = np.full(frame.shape[:2], t % 250 + 1, np.uint8)
        return type("P", (), {"labels": labels})()


def _indexed(n: int) -> list[Frame]:
    return [Frame(t, np.full((4, 6, 3), t, np.uint8), t / 30, f"{t:05d}") for t in range(n)]


def test_a_strided_pass_tracks_every_kth_the_prompted_and_the_last_frame() -> None:
    trk, out = _IndexTracker(), {}
    prompted = {0: np.ones((4, 6), np.uint8), 7: np.ones((4, 6), np.uint8)}
    track_pass(_indexed(12), trk, lambda f: (prompted.get(f.index), None),
               lambda f, lab: out.__setitem__(f.index, int(lab[0, 0]) - 1),
               n_frames=12, stride=3, progress=False)
    assert trk.stepped == [0, 3, 6, 7, 9, 11]
    # each skipped frame takes the nearer tracked frame (the earlier one on a tie)
    assert out == {0: 0, 1: 0, 2: 3, 3: 3, 4: 3, 5: 6, 6: 6, 7: 7, 8: 7, 9: 9, 10: 9, 11: 11}


def test_a_strided_pass_without_a_frame_count_ends_on_the_last_tracked_labels() -> None:
    trk, out = _IndexTracker(), {}
    track_pass(_indexed(8), trk, lambda f: (None, None),
               lambda f, lab: out.__setitem__(f.index, int(lab[0, 0]) - 1),
               stride=3, progress=False)
    assert trk.stepped == [0, 3, 6]
    assert out == {0: 0, 1: 0, 2: 3, 3: 3, 4: 3, 5: 6, 6: 6, 7: 6}


def test_an_interrupted_strided_pass_resumes_to_the_same_masks(tmp_path: Path) -> None:
    frames, first = _frames(), _first_mask()

    def prompt(f: Frame) -> tuple[np.ndarray | None, None]:
        return (first, None) if f.index == 0 else (None, None)

    def run(state: Path | None, stop_at: int | None = None) -> dict[int, np.ndarray]:
        got: dict[int, np.ndarray] = {}

        def writer(frame: Frame, labels: np.ndarray) -> None:
            if frame.index == stop_at:
                raise _Stop
            got[frame.index] = labels.copy()

        track_pass(frames, build_tracker("classic"), prompt, writer, state_path=state,
                   key=2, checkpoint_seconds=0.0, progress=False, stride=2,
                   n_frames=len(frames))
        return got

    full = run(None)
    state = tmp_path / "state.pt"
    with pytest.raises(_Stop):
        run(state, stop_at=7)
    saved = load_state(state, key=2)
    assert saved["next_index"] % 2 == 1 and saved["last"][0] == saved["next_index"] - 1
    rest = run(state)
    assert min(rest) == saved["next_index"] and max(rest) == len(frames) - 1
    for i, lab in rest.items():
        np.testing.assert_array_equal(lab, full[i])


class _PoolProbe:
    """A tracker stand-in that records OpenCV's pool size on every step."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def reset(self) -> None:
        pass

    def prepare(self, image: np.ndarray) -> None:
        pass

    def step(self, image, mask=None, objects=None):
        import cv2

        from gazevos.track.base import Prediction

        self.seen.append(cv2.getNumThreads())
        return Prediction(np.ones((1, *image.shape[:2]), np.float32), ())


@pytest.mark.parametrize(("threads", "expected"), [(1, 1), (2, 1), (4, 4)])
def test_a_threaded_pass_sizes_opencvs_pool_and_restores_it(monkeypatch, threads, expected):
    import types

    import cv2

    import gazevos.runtime as runtime

    monkeypatch.setattr(runtime, "thread_settings",
                        lambda: types.SimpleNamespace(threads=threads))
    before = cv2.getNumThreads()
    probe = _PoolProbe()
    track_pass(_frames(4), probe, lambda f: (None, None), lambda f, lab: None,
               progress=False)
    assert probe.seen == [expected] * 4 and cv2.getNumThreads() == before
    probe.seen.clear()
    track_pass(_frames(2), probe, lambda f: (None, None), lambda f, lab: None,
               progress=False, threads=False)       # no threads beside it: as it was
    assert probe.seen == [before] * 2


def test_classic_masks_do_not_depend_on_opencvs_pool(monkeypatch):
    """The same masks with OpenCV on one thread (the pass's choice on 2 cores) and on
    two, on frames large enough for OpenCV to split its work."""
    import cv2

    import gazevos.track.resumable as resumable

    frames = [Frame(f.index, cv2.resize(f.image, (640, 480), interpolation=cv2.INTER_NEAREST),
                    f.time, f.name) for f in _frames(6)]
    first = cv2.resize(_first_mask(), (640, 480), interpolation=cv2.INTER_NEAREST)
    runs = []
    for n in (1, 2):
        monkeypatch.setattr(resumable, "pipeline_opencv_threads", lambda n=n: n)
        written: dict[int, np.ndarray] = {}
        track_pass(frames, build_tracker("classic"),
                   lambda f: (first, None) if f.index == 0 else (None, None),
                   lambda f, lab, out=written: out.__setitem__(f.index, lab.copy()),
                   progress=False)
        runs.append(written)
    assert sorted(runs[0]) == list(range(6)) and runs[0][5].any()
    for i in range(6):
        np.testing.assert_array_equal(runs[0][i], runs[1][i])


def test_grid_labels_are_made_by_the_writing_thread_frame_size_ones_here() -> None:
    made_in: list[tuple[str, str]] = []

    class _Grid(GridPrediction):
        @property
        def labels(self) -> np.ndarray:  # type: ignore[override]
            made_in.append(("grid", threading.current_thread().name))
            return self.resampler.labels(self.grid_probs, self.object_ids)

    class _Full(Prediction):
        @property
        def labels(self) -> np.ndarray:  # type: ignore[override]
            made_in.append(("full", threading.current_thread().name))
            return argmax_labels(self.probs, self.object_ids)

    resampler = GridResampler((2, 3), (4, 6))

    class _Tracker(_IndexTracker):
        def prepare(self, image: np.ndarray) -> None:
            pass

        def step(self, frame, mask=None, objects=None):  # noqa: ANN001, ANN201
            t = int(frame[0, 0, 0])
            self.stepped.append(t)
            if t % 2:     # odd frames: all object t, made on the frame
                return _Full(np.stack([np.zeros((4, 6), np.float32),
                                       np.ones((4, 6), np.float32)]), (t + 1,))
            return _Grid(np.stack([np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)]),
                         (t + 1,), resampler)

    out: dict[int, int] = {}
    track_pass(_indexed(6), _Tracker(), lambda f: (None, None),
               lambda f, lab: out.__setitem__(f.index, int(lab[0, 0]) - 1),
               n_frames=6, progress=False, threads=True)
    assert out == {t: t for t in range(6)}
    main = threading.main_thread().name
    assert sorted(k for k, _ in made_in) == ["full"] * 3 + ["grid"] * 3
    assert all((name == main) == (kind == "full") for kind, name in made_in)
