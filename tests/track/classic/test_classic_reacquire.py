"""The ``classic`` tracker's drift and re-acquisition switches (session 11, issue 23)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from _classic_synth import H, W, background, disc_mask, iou, paint_disc

from gazevos.track.classic import ClassicConfig, ClassicTracker
from gazevos.track.classic.classifier import AppearanceModel
from gazevos.track.classic.features import colour_histogram
from gazevos.track.classic.masks import clean_mask
from gazevos.track.classic.reacquire import fit_anchor_classifier, pick_region

CFG = ClassicConfig(work_scale=1.0)


# ---------------------------------------------------------------- pick_region
def _two_blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability map with blob A (p 0.95, blue) and blob B (p 0.8, red), the LAB image,
    and the histogram of the red object."""
    pc = np.zeros((60, 80), np.float32)
    pc[10:20, 10:20] = 0.95           # A: 100 px
    pc[30:40, 50:60] = 0.8            # B: 100 px
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[10:20, 10:20] = (40, 60, 210)
    rgb[30:40, 50:60] = (200, 40, 50)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    hist = colour_histogram(lab[30:40, 50:60].reshape(-1, 3), 8)
    return pc, lab.transpose(2, 0, 1), hist


@pytest.mark.parametrize(("rank", "min_similarity", "chosen"), [
    ("probability", 0.0, "A"), ("similarity", 0.0, "B"),
    ("probability", 0.5, "B"), ("similarity", 0.5, "B")])
def test_pick_region_ranks_by_probability_or_colour(rank, min_similarity, chosen):
    pc, lab, hist = _two_blobs()
    cfg = dataclasses.replace(CFG, reacquire_rank=rank, reacquire_min_similarity=min_similarity,
                              reacquire_near_probability=0.6, reacquire_far_probability=0.6)
    # last seen between the two, 100 px reference area
    region = pick_region(pc, lab, hist, (25.0, 35.0), 10.0, 100.0, cfg)
    assert region is not None and region.sum() == 100
    assert region[15, 15] == (chosen == "A") and region[35, 55] == (chosen == "B")


def test_pick_region_rejects_areas_and_probabilities_out_of_range():
    pc, lab, hist = _two_blobs()
    cfg = dataclasses.replace(CFG, reacquire_min_similarity=0.0)
    # reference area 1000: both blobs are 0.1 of it, below reacquire_min_area 0.3
    assert pick_region(pc, lab, hist, (25.0, 35.0), 10.0, 1000.0, cfg) is None
    # far from the last position (size 1): B's 0.8 misses the strict 0.85, A's 0.95 passes
    region = pick_region(pc, lab, hist, (0.0, 0.0), 1.0, 100.0, cfg)
    assert region is not None and region[15, 15] and not region[35, 55]


# ---------------------------------------------------------------- clean_mask max_gap
def test_clean_mask_drops_components_far_from_the_largest():
    prob = np.zeros((40, 100), np.float32)
    prob[10:30, 10:30] = 0.9          # largest, 400 px
    prob[15:21, 40:46] = 0.9          # 10 px right of it (distance ~11)
    prob[15:21, 80:86] = 0.9          # 50 px right of it
    prior = np.ones_like(prob)
    keep_all = clean_mask(prob, prior, 0.2, 0.0)
    assert (keep_all > 0.5).sum() == 400 + 36 + 36
    out = clean_mask(prob, prior, 0.2, 0.0, max_gap=20.0)
    assert (out[10:30, 10:30] > 0.5).all() and (out[15:21, 40:46] > 0.5).all()
    assert (out[15:21, 80:86] == 0).all()
    # a gap wider than both distances keeps everything
    assert ((clean_mask(prob, prior, 0.2, 0.0, max_gap=60.0) > 0.5).sum() == 472)


# ---------------------------------------------------------------- classifier parts
def _separable(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Column 0 decides the label (> 0.5: object); columns 1-2 ("position") say the
    opposite."""
    rng = np.random.default_rng(seed)
    f = rng.random(n).astype(np.float32)
    y = (f > 0.5).astype(np.uint8)
    x = np.stack([f, 1.0 - y, 1.0 - y], axis=1).astype(np.float32)
    return x, y


def test_anchor_classifier_ignores_the_position_columns():
    model = AppearanceModel(20, 7, 0.3, 5, recent_frames=4)
    x, y = _separable()
    model.set_anchor(x, y)
    clf = fit_anchor_classifier(model, 1)
    assert clf is not None and clf.n_features == 1
    p = clf.predict(np.array([[0.1], [0.9]], np.float32))
    assert p[0] < 0.2 and p[1] > 0.8
    empty = AppearanceModel(20, 7, 0.3, 5, recent_frames=4)
    assert fit_anchor_classifier(empty, 1) is None


def test_restart_forgets_recent_samples():
    model = AppearanceModel(20, 7, 0.3, 5, recent_frames=4)
    x, y = _separable()
    model.set_anchor(x, y)
    for _ in range(4):                 # four frames that learnt the opposite (a drift)
        model.add_recent(x, 1 - y)
    model.fit()
    probe = np.array([[0.9, 0.0, 0.0]], np.float32)
    assert model.predict(probe)[0] < 0.5
    assert model.restart()
    assert model.predict(probe)[0] > 0.8


@pytest.mark.parametrize(("weight", "follows_anchor"), [(1, False), (3, False), (6, True)])
def test_anchor_weight_outvotes_recent_frames(weight, follows_anchor):
    model = AppearanceModel(20, 7, 0.3, 5, recent_frames=4, anchor_weight=weight)
    x, y = _separable()
    model.set_anchor(x, y)
    for _ in range(4):                 # four recent frames say the opposite
        model.add_recent(x, 1 - y)
    model.fit()
    # column 0 = 0.9 is object by the anchors, background by the recent frames
    p = model.predict(np.array([[0.9, 0.0, 0.0]], np.float32))[0]
    assert (p > 0.5) == follows_anchor


# ---------------------------------------------------------------- tracker behaviour
R = 14


def _drifted_search(cfg: ClassicConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """The disc is tracked, leaves, and while it is away its tracking classifier learns
    that the disc's colours are background (as after a drift); it comes back elsewhere.
    Returns (true, predicted) masks of the frames after its return."""
    bg = background(0)
    trk = ClassicTracker(cfg)
    out = []
    for k in range(22):
        centre = (40, 30) if k < 8 else None if k < 12 else (60, 100)
        m = np.zeros((H, W), bool) if centre is None else disc_mask(*centre, R)
        img = paint_disc(bg, m, k)
        pred = trk.step(img, mask=m.astype(np.uint8) if k == 0 else None)
        if k == 9:
            model = trk._objects[1].model
            x, y = model.anchor
            for _ in range(cfg.recent_frames):
                model.add_recent(x, 1 - y)
            model.fit()
        if k >= 12:
            out.append((m, pred.labels == 1))
    return out


def test_drifted_tracking_classifier_does_not_find_the_object_again():
    res = _drifted_search(dataclasses.replace(CFG, reacquire_model="tracking",
                                              reacquire_restart=False))
    assert all(not p.any() for _, p in res)


def test_the_defaults_find_it_again():
    assert all(iou(t, p) > 0.8 for t, p in _drifted_search(CFG)[2:])


def test_anchor_search_finds_it_and_restart_keeps_it():
    res = _drifted_search(dataclasses.replace(CFG, reacquire_model="anchor",
                                              reacquire_restart=True))
    assert all(iou(t, p) > 0.8 for t, p in res[2:])


def test_recent_anchor_check_vets_object_samples():
    def recent_object_samples(cfg: ClassicConfig) -> int:
        bg = background(0)
        trk = ClassicTracker(cfg)
        for k in range(12):
            m = disc_mask(48, 30 + 2 * k, R)
            trk.step(paint_disc(bg, m, k), mask=m.astype(np.uint8) if k == 0 else None)
        return sum(int(y.sum()) for _, y in trk._objects[1].model._recent)

    every = dataclasses.replace(CFG, skip_agreement=0.0)    # every frame classified
    assert recent_object_samples(every) > 1000
    # every object sample must be rated >= 1 by the given mask's classifier: none is
    assert recent_object_samples(dataclasses.replace(every, recent_anchor_check=1.0)) == 0


def test_anchor_after_collapse_uses_the_anchor_classifier_for_a_collapse_only():
    # the disc leaves the view (its area collapses): the anchor classifier finds it again
    res = _drifted_search(dataclasses.replace(CFG, reacquire_model="anchor-after-collapse",
                                              reacquire_restart=True))
    assert all(iou(t, p) > 0.8 for t, p in res[2:])

    def fitted_after_a_cut(model: str) -> bool:
        rng = np.random.default_rng(5)
        other = np.clip(rng.normal(128, 40, (H, W, 3)), 0, 255).astype(np.uint8)
        other = np.repeat(np.repeat(other[::4, ::4], 4, axis=0), 4, axis=1)
        bg = background(0)
        trk = ClassicTracker(dataclasses.replace(CFG, reacquire_model=model))
        for k in range(12):
            m = disc_mask(48, 30 + 2 * k, R)
            img = other if 6 <= k < 9 else paint_disc(bg, m, k)
            trk.step(img, mask=m.astype(np.uint8) if k == 0 else None)
        return trk._objects[1].anchor_clf is not None

    # a view change (a cut to another view and back): only "anchor" fits its classifier
    assert fitted_after_a_cut("anchor")
    assert not fitted_after_a_cut("anchor-after-collapse")
