"""The ``classic`` tracker's lookahead: work-grid images and optical flow made in the
decoding thread (``track_pass``) give exactly the masks of a step that makes them itself."""

from __future__ import annotations

import pickle
import threading

import numpy as np
from _classic_synth import H, W, background, disc_mask, paint_disc

from gazevos.io.frames import Frame
from gazevos.track.classic import ClassicConfig, ClassicTracker
from gazevos.track.classic.ahead import Lookahead, make_dis
from gazevos.track.resumable import track_pass

R = 14
_MAKE_DIS = ClassicTracker._make_dis


def _frames(n: int = 16) -> list[Frame]:
    bg = background(0)
    out = []
    for k in range(n):
        m = disc_mask(40 + 2 * k, 50 + 3 * k, R)
        out.append(Frame(k, paint_disc(bg, m, k), k / 25, f"{k:05d}"))
    return out


def _first_mask() -> np.ndarray:
    return disc_mask(40, 50, R).astype(np.uint8)


class _Counting:
    """A DIS object that records the name of the thread of each call."""

    def __init__(self, dis, calls: list[str]) -> None:
        self.dis, self.calls = dis, calls

    def calc(self, *args):  # noqa: ANN202
        self.calls.append(threading.current_thread().name)
        return self.dis.calc(*args)


def _pass(frames: list[Frame], threads: bool, monkeypatch, cfg: ClassicConfig
          ) -> tuple[list[np.ndarray], list[str]]:
    calls: list[str] = []
    monkeypatch.setattr(ClassicTracker, "_make_dis",
                        lambda self, *a: _Counting(_MAKE_DIS(self, *a), calls))
    labels: dict[int, np.ndarray] = {}
    track_pass(frames, ClassicTracker(cfg),
               lambda f: (_first_mask(), None) if f.index == 0 else (None, None),
               lambda f, lab: labels.__setitem__(f.index, lab.copy()),
               n_frames=len(frames), progress=False, threads=threads)
    return [labels[k] for k in range(len(frames))], calls


def test_prepared_ahead_gives_the_same_masks_and_takes_the_flow_off_the_step(monkeypatch):
    frames = _frames()
    cfg = ClassicConfig(work_scale=1.0, skip_agreement=0.0)
    alone, calls_alone = _pass(frames, False, monkeypatch, cfg)
    ahead, calls_ahead = _pass(frames, True, monkeypatch, cfg)
    assert all(np.array_equal(a, b) for a, b in zip(alone, ahead, strict=True))
    main = threading.main_thread().name
    # one backward flow per frame after the first (the photometric check needs no other
    # on this smooth motion): in the step without lookahead, in the decoding thread with it
    assert calls_alone == [main] * (len(frames) - 1)
    assert len(calls_ahead) == len(frames) - 1 and main not in calls_ahead
    assert (alone[-1] == 1).sum() > 0.8 * np.pi * R ** 2


def test_a_frame_prepared_after_another_previous_frame_gets_its_flow_in_the_step():
    """Frames 0, 1, 2 are prepared, the tracker steps 0 and 2: frame 2's flow was made
    against frame 1, so the step computes its own, as a tracker without lookahead does."""
    frames = _frames(3)
    cfg = ClassicConfig(work_scale=1.0, skip_agreement=0.0)
    plain, ahead = ClassicTracker(cfg), ClassicTracker(cfg)
    for f in frames:
        ahead.prepare(f.image)
    for trk in (plain, ahead):
        trk.step(frames[0].image, mask=_first_mask())
    p, a = plain.step(frames[2].image), ahead.step(frames[2].image)
    assert np.array_equal(p.labels, a.labels)
    assert ahead._pre_flow is not None and ahead._pre_flow[0] is not ahead._prev_gray
    # a saved state leaves the lookahead (and its frames) out, and steps on
    state = pickle.loads(pickle.dumps(ahead))
    assert state._ahead is None and state._pre_flow is None
    assert np.array_equal(state.step(frames[1].image).labels, ahead.step(frames[1].image).labels)


def test_lookahead_matches_frames_by_identity_and_keeps_later_ones():
    imgs = [np.full((H, W, 3), v, np.uint8) for v in (10, 60, 110)]
    look = Lookahead(make_dis(ClassicConfig()), lambda im: (H // 2, W // 2))
    for im in imgs:
        look.prepare(im)
    assert look.take(imgs[0].copy()) is None          # equal pixels, another frame
    second = look.take(imgs[1])
    assert second is not None and second.image is imgs[1]
    assert second.small.shape == (H // 2, W // 2, 3) and second.gray.shape == (H // 2, W // 2)
    assert second.flow is not None and second.flow.shape == (H // 2, W // 2, 2)
    assert second.prev is not None and second.prev.mean() == 10
    assert look.take(imgs[0]) is None                 # dropped: older than the one taken
    third = look.take(imgs[2])
    assert third is not None and third.prev is second.gray
