"""Tracking passes interrupted and resumed from their saved state equal uninterrupted ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gazevos.io.frames import Frame
from gazevos.track import build_tracker
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
    assert sorted(written) == list(range(6))  # frame 5 was finished, nothing after it
    assert load_state(state, key=1)["next_index"] == 6  # saved at the signal, not at 30 s
    rest = _run_from(state, frames, first)
    assert sorted(rest) == list(range(6, 12))
    for i in range(6, 12):
        np.testing.assert_array_equal(rest[i], full[i])


def _run_from(state: Path, frames: list[Frame], first: np.ndarray) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    track_pass(frames, build_tracker("flow"),
               lambda f: (first, None) if f.index == 0 else (None, None),
               lambda f, lab: out.__setitem__(f.index, lab.copy()), state_path=state, key=1,
               progress=False)
    return out
