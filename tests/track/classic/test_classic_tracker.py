"""Behaviour of the ``classic`` tracker on synthetic sequences (tiny frames, a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest
from _classic_synth import H, W, background, disc_mask, iou, paint_disc

from gazevos.track import TRACKERS, build_tracker
from gazevos.track.classic import ClassicConfig, ClassicTracker

CFG = ClassicConfig(work_scale=1.0, skip_agreement=0.0)   # every frame classified
R = 14


def _frame(bg: np.ndarray, centre: tuple[float, float] | None, k: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``k`` with the red disc at ``centre`` (None: absent) and its full mask."""
    m = np.zeros((H, W), bool) if centre is None else disc_mask(centre[0], centre[1], R)
    return paint_disc(bg, m, k), m


def _run(centres, occluder=None, cfg=CFG):
    """Track the disc; returns per frame (visible mask, predicted mask, max probability)."""
    bg = background(0)
    trk = ClassicTracker(cfg)
    out = []
    for k, c in enumerate(centres):
        img, m = _frame(bg, c, k)
        vis = m.copy()
        if occluder is not None and occluder[0] <= k < occluder[1]:
            img[:, 40:90] = (128, 128, 128)
            vis[:, 40:90] = False
        pred = trk.step(img, mask=m.astype(np.uint8) if k == 0 else None)
        out.append((vis, pred.labels == 1, float(pred.prob(1).max())))
    return out


def test_registered():
    assert TRACKERS["classic"] == "gazevos.track.classic:ClassicTracker"
    assert isinstance(build_tracker("classic"), ClassicTracker)


def test_follows_a_moving_object():
    res = _run([(48 + 0.5 * k, 25 + 3 * k) for k in range(20)])
    assert min(iou(v, p) for v, p, _ in res) > 0.9


def test_occlusion_collapses_then_recovers():
    # the disc walks behind a grey bar (x 40..90) and out the other side
    res = _run([(48, 20 + 3 * k) for k in range(30)], occluder=(10, 20))
    hidden = [k for k in range(10, 20) if res[k][0].sum() == 0]
    assert len(hidden) >= 6
    for k in hidden:                 # fully hidden: the object is reported absent
        assert res[k][2] < 0.5 and not res[k][1].any()
    for k in range(22, 30):          # visible again: picked up
        assert iou(res[k][0], res[k][1]) > 0.85


def test_leaves_the_view_and_comes_back():
    centres = [(48, 60 + 6 * k) for k in range(15)] + [(48, 144 - 6 * k) for k in range(15)]
    res = _run(centres)
    out_of_view = [k for k, (v, _, _) in enumerate(res) if v.sum() == 0]
    assert out_of_view                # the scenario really leaves the frame
    for k in out_of_view:
        assert res[k][2] < 0.5
    for k in range(20, 30):
        assert iou(res[k][0], res[k][1]) > 0.85


def test_reappears_elsewhere_by_appearance():
    # gone for 5 frames, then back on the far side of the frame
    res = _run([(40, 30)] * 8 + [None] * 5 + [(60, 100)] * 8)
    for k in range(8, 13):
        assert res[k][2] < 0.5
    for k in range(14, 21):
        assert iou(res[k][0], res[k][1]) > 0.85


def test_does_not_take_a_different_object_for_the_lost_one():
    bg = background(0)
    trk = ClassicTracker(CFG)
    for k in range(15):
        if k < 6:
            img, m = _frame(bg, (40, 30), k)
        else:                          # the red disc is gone; a blue one is elsewhere
            m = disc_mask(60, 100, R)
            img = bg.copy()
            img[m] = (40, 60, 210)
        pred = trk.step(img, mask=m.astype(np.uint8) if k == 0 else None)
        if k >= 6:
            assert not (pred.labels == 1).any()


def test_two_objects_one_added_later():
    bg = background(1)
    trk = ClassicTracker(CFG)
    for k in range(16):
        m1 = disc_mask(30, 20 + 3 * k, 12)
        m2 = disc_mask(70, 110 - 2 * k, 10)
        img = paint_disc(bg, m1, k)
        img[m2] = (40, 60, 210)
        given = None
        if k == 0:
            given, objects = m1.astype(np.uint8), None
        elif k == 5:
            given, objects = (m1 * 1 + m2 * 2).astype(np.uint8), [2]
        pred = trk.step(img, mask=given, objects=objects if given is not None else None)
        if k < 5:
            assert pred.object_ids == (1,)
        else:
            assert pred.object_ids == (1, 2)
            assert iou(pred.labels == 2, m2) > 0.85
        assert iou(pred.labels == 1, m1) > 0.85
        np.testing.assert_allclose(pred.probs.sum(axis=0), 1.0, atol=1e-4)


def test_memory_stays_bounded():
    cfg = ClassicConfig(work_scale=1.0, sample_every=1, retrain_every=4, recent_frames=3,
                        reference_frames=5)
    bg = background(2)
    trk = ClassicTracker(cfg)
    for k in range(25):
        img, m = _frame(bg, (48, 30 + 2 * k), k)
        trk.step(img, mask=m.astype(np.uint8) if k == 0 else None)
    st = trk._objects[1]
    assert len(st.model._recent) == 3
    assert len(st.areas) == 5
    assert st.prob.shape == (H, W)


class ParityEncoder:
    """A stand-in for a learned encoder: sees the parity of the red channel."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        assert image.shape == (H, W, 3)
        return (image[::2, ::2, :1] % 2).astype(np.float32) * 10.0


def _camouflaged(extractor):
    """A disc that only the red channel's parity tells from the noise around it.

    Still for 6 frames, gone for 3, then back elsewhere: only an appearance model that
    sees the parity can find it again.
    """
    rng = np.random.default_rng(5)
    bg = rng.normal(128, 25, (H, W, 3)).clip(0, 255).astype(np.uint8)
    patch = rng.normal(128, 25, (H, W, 3)).clip(0, 255).astype(np.uint8)
    patch[..., 0] |= 1
    bg[..., 0] &= 254
    # every band pixel classified: the parity is a per-pixel cue that a coarse band grid
    # (band_stride 2, the default) blurs at the edge; and every frame (no carrying)
    trk = ClassicTracker(ClassicConfig(work_scale=1.0, band_stride=1, skip_agreement=0.0),
                         extractor=extractor)
    ious = []
    for k, c in enumerate([(40, 35)] * 6 + [None] * 3 + [(55, 95)] * 5):
        m = np.zeros((H, W), bool) if c is None else disc_mask(c[0], c[1], R)
        img = np.where(m[..., None], patch, bg)
        pred = trk.step(img, mask=m.astype(np.uint8) if k == 0 else None)
        ious.append(iou(pred.labels == 1, m))
    return ious


def test_learned_features_plug_in():
    enc = ParityEncoder()
    with_enc = _camouflaged(enc)
    assert enc.calls == 14
    assert build_tracker("classic", extractor=enc, work_scale=1.0).extractor is enc
    without = _camouflaged(None)
    assert min(with_enc) > 0.85                  # found again only through the encoder
    assert min(without[:6]) > 0.85 and max(without[9:]) < 0.2


@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_output_at_frame_size(scale):
    res = _run([(48, 30 + 2 * k) for k in range(6)], cfg=ClassicConfig(work_scale=scale))
    assert res[-1][1].shape == (H, W)
    assert iou(res[-1][0], res[-1][1]) > 0.8


@pytest.mark.parametrize(("shape", "work"), [((480, 854), (240, 427)),    # work_scale 0.5
                                              ((120, 160), (120, 160)),    # capped at 1
                                              ((360, 640), (240, 427))])   # raised to 240 rows
def test_work_grid_never_below_min_work_height(shape, work):
    trk = ClassicTracker(ClassicConfig(max_work_pixels=0))
    assert trk._work_size(np.zeros((*shape, 3), np.uint8)) == work


@pytest.mark.parametrize(("shape", "work"), [((480, 854), (240, 427)),    # under the cap
                                              # sqrt(110000 / 2073600) = 0.2303
                                              ((1080, 1920), (249, 442)),
                                              # sqrt(110000 / 1920000) = 0.2394
                                              ((1200, 1600), (287, 383)),
                                              ((1080, 1088), (330, 333))])
def test_work_grid_capped_in_pixels(shape, work):
    trk = ClassicTracker(ClassicConfig())
    assert trk._work_size(np.zeros((*shape, 3), np.uint8)) == work
    assert ClassicTracker(ClassicConfig(max_work_pixels=0))._work_size(
        np.zeros((*shape, 3), np.uint8)) >= work


def test_an_object_too_small_to_learn_is_lost_not_an_error():
    """A given mask of one pixel leaves nothing on the work grid: the object is lost from
    the start (before, the lost-object search used the unfitted classifier and raised)."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(3)]
    first = np.zeros((96, 128), np.uint8)
    first[40:60, 50:80] = 1
    first[10, 10] = 2
    trk = ClassicTracker(ClassicConfig(work_scale=0.5, min_work_height=8))
    trk.step(frames[0], mask=first)
    for f in frames[1:]:
        pred = trk.step(f)
        assert not (pred.labels == 2).any()


def _predicted_rows(monkeypatch) -> list[int]:
    """Spy on the classifier: the number of pixels of each prediction, in order."""
    from gazevos.track.classic.classifier import AppearanceModel

    rows: list[int] = []
    real = AppearanceModel.predict

    def spy(self, x):
        rows.append(x.shape[0])
        return real(self, x)

    monkeypatch.setattr(AppearanceModel, "predict", spy)
    return rows


def test_band_on_a_coarse_grid_classifies_fewer_pixels_and_still_follows(monkeypatch):
    centres = [(48 + 0.5 * k, 25 + 3 * k) for k in range(20)]
    fine = _predicted_rows(monkeypatch)
    _run(centres, cfg=ClassicConfig(work_scale=1.0, band_stride=1, skip_agreement=0.0))
    monkeypatch.undo()
    coarse = _predicted_rows(monkeypatch)
    res = _run(centres, cfg=ClassicConfig(work_scale=1.0, band_stride=2, skip_agreement=0.0))
    assert min(iou(v, p) for v, p, _ in res) > 0.9
    assert len(coarse) == len(fine) == 19
    # every 2nd row and column of the band (one grid step wider): about a quarter
    assert 0.2 < sum(coarse) / sum(fine) < 0.45


def test_frames_between_classified_ones_are_carried_by_the_flow(monkeypatch):
    rows = _predicted_rows(monkeypatch)
    res = _run([(48 + 0.5 * k, 25 + 3 * k) for k in range(21)],
               cfg=ClassicConfig(work_scale=1.0, classify_every=3, skip_agreement=0.0))
    assert len(rows) == 6                   # of frames 1..20, only 3, 6, ..., 18
    assert min(iou(v, p) for v, p, _ in res) > 0.85


def _look_away(cfg: ClassicConfig, monkeypatch, keep_disc: bool = False
               ) -> tuple[list, list[float], list[int]]:
    """Track the disc through a cut to another view (frames 8-13) and back.

    ``keep_disc``: the other view keeps the disc and its surround (frame 7's) in place.

    Returns per frame (predicted mask, true mask or None on the other view), the fraction
    of the frame failing the flow check, and the frames where the lost-object search ran.
    """
    from gazevos.track.classic.tracker import ClassicTracker as Trk

    seen: list[float] = []
    searched: list[int] = []
    check, search = Trk._inconsistent, Trk._reacquire

    def spy_check(self, *args):
        bad = check(self, *args)
        seen.append(float(bad.mean()))
        return bad

    def spy_search(self, *args):
        searched.append(self.frame_index)
        return search(self, *args)

    monkeypatch.setattr(Trk, "_inconsistent", spy_check)
    monkeypatch.setattr(Trk, "_reacquire", spy_search)
    rng = np.random.default_rng(5)
    other = np.clip(rng.normal(128, 40, (H, W, 3)), 0, 255).astype(np.uint8)
    other = np.repeat(np.repeat(other[::4, ::4], 4, axis=0), 4, axis=1)  # blocky texture
    bg = background(0)
    trk = ClassicTracker(cfg)
    out = []
    last, _ = _frame(bg, (48, 44), 7)
    near = disc_mask(48, 44, R + 10)
    for k in range(24):
        away = 8 <= k < 14
        img, m = (other, None) if away else _frame(bg, (48, 30 + 2 * k), k)
        if away and keep_disc:
            img = np.where(near[..., None], last, other)
        pred = trk.step(img, mask=m.astype(np.uint8) if k == 0 else None)
        out.append((pred.labels == 1, m))
    monkeypatch.undo()
    return out, seen, searched


def test_a_view_change_is_searched_again_not_carried(monkeypatch):
    """A cut to another view (the wearer looks away) and back: the flow check fails almost
    everywhere, so every object is searched for again from that frame on (not carried by
    the flow); absent on the other view, found again when the view comes back."""
    out, seen, searched = _look_away(CFG, monkeypatch)
    assert seen[7] > 0.6 and seen[13] > 0.6            # the two cuts (frames 8 and 14)
    assert max(v for k, v in enumerate(seen) if k not in (7, 13)) < 0.3
    assert searched[0] == 8                             # searched at the cut itself
    for k in range(8, 14):
        assert not out[k][0].any()                      # nothing marked on the other view
    for k in range(16, 24):
        assert iou(out[k][1], out[k][0]) > 0.85         # found again after the return


def test_a_view_change_is_detected_even_where_the_object_stays_put(monkeypatch):
    """Most of the frame changes but the disc's surround does not: the flow would carry
    the disc; with the view-change test it is searched for again (and found, since it is
    there), switched off it is carried."""
    _, seen, searched = _look_away(CFG, monkeypatch, keep_disc=True)
    assert seen[7] > 0.6 and searched[0] == 8
    _, seen, searched = _look_away(
        ClassicConfig(work_scale=1.0, view_change_fraction=1.0, skip_agreement=0.0),
        monkeypatch, keep_disc=True)
    assert seen[7] > 0.6 and 8 not in searched


def test_adaptive_carrying_skips_the_classifier_after_frames_the_flow_got_right(monkeypatch):
    rows = _predicted_rows(monkeypatch)
    trk_cfg = ClassicConfig(work_scale=1.0, skip_agreement=0.5, skip_max=2, skip_error_ratio=0)
    res = _run([(48 + 0.5 * k, 25 + 3 * k) for k in range(20)], cfg=trk_cfg)
    # frame 1 is classified (no agreement measured yet); the smooth motion keeps the
    # classifier's mask close to the flow's, so two frames are carried after each
    # classified one: frames 1, 4, 7, 10, 13, 16, 19 are classified
    assert len(rows) == 7
    assert min(iou(v, p) for v, p, _ in res) > 0.85


def _skip_state(agreements, lost=(), skipped=0, **cfg):
    from types import SimpleNamespace

    trk = ClassicTracker(ClassicConfig(**cfg))
    trk._objects = {i + 1: SimpleNamespace(agreement=a, lost=(i + 1) in lost)
                    for i, a in enumerate(agreements)}
    trk._skipped = skipped
    return trk._skip_next()


def test_skip_rule_needs_every_tracked_object_to_agree():
    assert _skip_state([0.96, 0.97], skip_agreement=0.95)
    assert not _skip_state([0.96, 0.94], skip_agreement=0.95)
    assert not _skip_state([0.96, 0.99], lost={2}, skip_agreement=0.95)  # a lost one: veto
    assert not _skip_state([0.99], skip_agreement=0.95, skip_max=2, skipped=2)
    assert _skip_state([0.99], skip_agreement=0.95, skip_max=2, skipped=1)
    assert not _skip_state([1.0], skip_agreement=0.0)                # 0: off
    assert not _skip_state([], skip_agreement=0.5)                   # nothing to track


def test_carried_frames_are_counted_and_reset():
    trk = ClassicTracker(ClassicConfig(work_scale=1.0, classify_every=2, skip_agreement=0.0))
    bg = background(0)
    for k in range(5):
        img, m = _frame(bg, (48 + k, 40), k)
        trk.step(img, mask=m.astype(np.uint8) if k == 0 else None)
    assert trk.carried == 2                 # frames 1 and 3
    trk.reset()
    assert trk.carried == 0


CARRY = ClassicConfig(work_scale=1.0)      # the defaults: adaptive carrying on


@pytest.mark.parametrize("keep_disc", [False, True])
def test_carrying_never_hides_a_view_change(monkeypatch, keep_disc):
    """With carrying on, the cut to another view is still classified at once (the flow
    explains the new view far worse than the last classified frame), even where the disc's
    surround stays put: searched at the cut, absent there, found again after the return."""
    out, _, searched = _look_away(CARRY, monkeypatch, keep_disc=keep_disc)
    assert searched[0] == 8
    if not keep_disc:
        assert not any(out[k][0].any() for k in range(8, 14))
        assert min(iou(out[k][1], out[k][0]) for k in range(16, 24)) > 0.85


def test_carrying_classifies_the_frame_an_object_vanishes_on(monkeypatch):
    centres = [(40, 30)] * 8 + [None] * 5 + [(60, 100)] * 8
    res = _run(centres, cfg=CARRY)
    assert all(res[k][2] < 0.5 for k in range(8, 13))     # absent from its first frame gone
    assert min(iou(res[k][0], res[k][1]) for k in range(14, 21)) > 0.85
    # without the warp-error test (and with the forward-backward check, whose masks let
    # frame 8 be carried) the vanished disc is carried on the frame it vanished
    res = _run(centres, cfg=ClassicConfig(work_scale=1.0, skip_error_ratio=0.0,
                                          flow_check_photometric=0.0))
    assert res[8][2] > 0.5


@pytest.mark.parametrize(("threshold", "confirm", "flows"),
                         [(0.0, 1.0, 46), (10.0, 0.3, 25), (10.0, 1.0, 23)])
def test_photometric_check_spares_a_flow(monkeypatch, threshold, confirm, flows):
    """``flow_check_photometric``: the check compares grey levels instead of running a
    second optical flow: 23 flows for 24 frames instead of 46, plus one forward flow at
    each of the two cuts, where more than ``flow_check_confirm`` of the frame fails the
    grey-level test and the forward-backward check decides.  The cut is searched at
    once and the disc found again after the return either way."""
    from gazevos.track.classic.tracker import ClassicTracker as Trk

    calls = []
    make = Trk._make_dis

    class Counting:
        def __init__(self, dis):
            self.dis = dis

        def calc(self, *args):
            calls.append(1)
            return self.dis.calc(*args)

    monkeypatch.setattr(Trk, "_make_dis", lambda self, *a: Counting(make(self, *a)))
    cfg = ClassicConfig(work_scale=1.0, skip_agreement=0.0, flow_check_photometric=threshold,
                        flow_check_confirm=confirm)
    out, seen, searched = _look_away(cfg, monkeypatch)
    assert len(calls) == flows
    assert seen[7] > 0.6 and searched[0] == 8
    assert not any(out[k][0].any() for k in range(8, 14))
    assert min(iou(out[k][1], out[k][0]) for k in range(16, 24)) > 0.85
