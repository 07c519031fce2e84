"""The ``ranet`` tracker: crop box, multi-object bookkeeping, switches, registry."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.eval.synthetic import Square, moving_squares
from gazevos.models.ranet import RANet, RANetConfig, normalise_image, to_checkpoint
from gazevos.track import build_tracker
from gazevos.track.base import Prediction
from gazevos.track.ranet import RanetTracker, RanetTrackerConfig

TINY = RANetConfig(stem=4, widths=(4, 4, 8, 8), feature_dim=8, template_grid=(2, 3),
                   num_ranked=4, decoder_scale=0.0625, ranking_width=4)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convolutions: threads only add overhead



def _spy_prev_masks(trk, monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:  # noqa: ANN001
    """Record the M(t-1) the decoder of ``trk`` receives at each call."""
    seen: list[torch.Tensor] = []
    segment = trk.model.segment

    def spy(feats, emb, kernel, m, prev):  # noqa: ANN001, ANN202
        seen.append(prev.clone())
        return segment(feats, emb, kernel, m, prev)

    monkeypatch.setattr(trk.model, "segment", spy)
    return seen

def _video() -> tuple[np.ndarray, np.ndarray]:
    return moving_squares(5, (64, 96), (Square(16, (8, 8), (1.0, 2.0)),
                                        Square(12, (40, 60), (-1.0, -1.0), appear=2)), seed=3)


def _tracker(**kw: object) -> RanetTracker:
    """A tiny random RANet tracker; online adaptation off unless ``online_steps`` given."""
    torch.manual_seed(0)
    kw.setdefault("online_steps", 0)
    cfg = RanetTrackerConfig(input_size=(64, 96), **kw)  # type: ignore[arg-type]
    return RanetTracker(cfg, model=RANet(TINY))


@pytest.mark.parametrize("kw", [{}, {"bbox_crop": False, "prev_mask": False},
                                {"discriminant": True, "nms": True}])
def test_tracks_objects_given_first_and_later(kw: dict) -> None:
    frames, labels = _video()
    trk = _tracker(**kw)
    pred = trk.step(frames[0], np.where(labels[0] == 1, 1, 0).astype(np.uint8))
    assert pred.object_ids == (1,)
    assert np.array_equal(pred.labels, labels[0])  # given mask comes back exactly
    pred = trk.step(frames[1])
    assert pred.probs.shape == (2, 64, 96)
    np.testing.assert_allclose(pred.probs.sum(0), 1.0, atol=1e-5)
    pred = trk.step(frames[2], labels[2], objects=[2])  # object 2 appears
    assert pred.object_ids == (1, 2)
    assert (pred.labels == 2).sum() == (labels[2] == 2).sum()
    assert set(trk._templates) == {1, 2}
    pred = trk.step(frames[3])
    assert pred.probs.shape == (3, 64, 96)
    np.testing.assert_allclose(pred.probs.sum(0), 1.0, atol=1e-5)


def test_bbox_crop_gives_background_outside_the_box() -> None:
    frames, labels = _video()
    trk = _tracker(min_box=0.0)
    trk.step(frames[0], (labels[0] == 1).astype(np.uint8))  # 16 x 16 at (8, 8)
    pred = trk.step(frames[1])
    # box: 24 x 24 about the square, widened to 2:3 -> rows 4..28, columns 0..36
    assert pred.probs[0, 40:, :].min() > 0.99
    assert pred.probs[0, :, 60:].min() > 0.99
    trk2 = _tracker(bbox_crop=False)
    trk2.step(frames[0], (labels[0] == 1).astype(np.uint8))
    assert trk2._box() == (0, 0, 64, 96)


def test_registry_builds_from_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "ranet.pt"
    torch.save(to_checkpoint(RANet(TINY), input_size=(64, 96)), path)
    trk = build_tracker("ranet", checkpoint=path, input_size=(0, 0))  # its training size
    assert isinstance(trk, RanetTracker) and trk.size == (64, 96)
    assert build_tracker("ranet", checkpoint=path).size == (352, 608)  # the default
    trk = build_tracker("ranet", checkpoint=path, nms=True, input_size=(32, 64))
    assert trk.model.config.nms and trk.size == (32, 64)
    with pytest.raises(GazevosError, match="multiples of 32"):
        build_tracker("ranet", checkpoint=path, input_size=(30, 64))


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_prev_threshold_binarises_the_decoder_mask(threshold: float,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    frames, labels = _video()
    trk = _tracker(prev_threshold=threshold, bbox_crop=False)
    seen = _spy_prev_masks(trk, monkeypatch)
    trk.step(frames[0], (labels[0] == 1).astype(np.uint8))
    trk.step(frames[1])
    trk.step(frames[2])  # fed the soft output of frame 1
    values = torch.unique(seen[-1])
    if threshold:
        assert set(values.tolist()) <= {0.0, 1.0}
    else:
        assert ((values > 0.01) & (values < 0.99)).any()


def test_template_crop_embeds_the_object_box(monkeypatch: pytest.MonkeyPatch) -> None:
    frames, labels = _video()
    trk = _tracker(template_crop=True, min_box=0.0)
    shapes: list[tuple[int, ...]] = []
    to_input = trk._to_input

    def spy(image: np.ndarray) -> torch.Tensor:
        shapes.append(image.shape)
        return to_input(image)

    monkeypatch.setattr(trk, "_to_input", spy)
    trk.step(frames[0], (labels[0] == 1).astype(np.uint8))  # 16 x 16 square at (8, 8)
    # 24 x 24 about (16, 16), widened to the 2:3 input -> rows 4..28, columns 0..34
    assert shapes == [(24, 34, 3)]
    kernel, m, mask = trk._templates[1]
    assert m.min() > 0  # the template grid lies on the object's box: the object everywhere
    assert mask.shape == (64, 96)
    assert trk.step(frames[1]).probs.shape == (2, 64, 96)


# -- options: flow-warped M(t-1) and per-video online adaptation (session 3) ------------------

def _frame_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    return float((pred & gt).sum() / max(1, (pred | gt).sum()))


def test_online_adaptation_is_on_by_default_and_flow_off() -> None:
    cfg = RanetTrackerConfig()
    assert (cfg.online_steps, cfg.online_lr, cfg.online_batch) == (50, 3e-4, 2)
    assert not cfg.prev_flow and not cfg.flip_test and cfg.online_every == 0
    assert (cfg.near_radius, tuple(cfg.input_size)) == (0.25, (352, 608))


def test_options_off_leave_the_model_and_output_unchanged() -> None:
    frames, labels = _video()
    first = (labels[0] == 1).astype(np.uint8)
    outs = []
    # off: online_steps 0 (whatever the other online settings) and prev_flow false
    for kw in ({}, {"online_steps": 0, "online_lr": 1.0, "online_flip": True,
                    "prev_flow": False}):
        trk = _tracker(**kw)
        before = {k: v.clone() for k, v in trk.model.state_dict().items()}
        probs = [trk.step(frames[0], first).probs] + [trk.step(f).probs for f in frames[1:]]
        outs.append(np.stack(probs))
        assert trk.model is trk.base_model and trk.adaptations == [] and trk._dis is None
        assert all(torch.equal(before[k], v) for k, v in trk.model.state_dict().items())
    np.testing.assert_array_equal(outs[0], outs[1])


def _textured_shift(dx: int, dy: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured 64x96 frame, the same frame shifted by (dx, dy), and a square's mask."""
    from gazevos.eval.synthetic import texture

    big = texture((64 + 2 * abs(dy), 96 + 2 * abs(dx)), np.random.default_rng(5), blur=2.0)
    oy, ox = abs(dy), abs(dx)
    f0 = np.ascontiguousarray(big[oy:oy + 64, ox:ox + 96])
    f1 = np.ascontiguousarray(big[oy - dy:oy - dy + 64, ox - dx:ox - dx + 96])
    mask = np.zeros((64, 96), dtype=np.uint8)
    mask[20:40, 30:50] = 1
    return f0, f1, mask


@pytest.mark.parametrize("prev_flow", [False, True])
def test_prev_flow_moves_the_decoder_mask_with_the_frame(prev_flow: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    f0, f1, mask = _textured_shift(6, 4)  # the whole scene moves 6 right, 4 down
    trk = _tracker(prev_flow=prev_flow, flow_scale=1.0, bbox_crop=False, prev_threshold=0.5)
    seen = _spy_prev_masks(trk, monkeypatch)
    trk.step(f0, mask)
    trk.step(f1)
    prev = seen[-1][0, 0].numpy() > 0.5  # input size = frame size: same coordinates
    ys, xs = np.nonzero(prev)
    shift = (ys.mean() - 29.5, xs.mean() - 39.5)
    if prev_flow:
        assert abs(shift[0] - 4) < 1.0 and abs(shift[1] - 6) < 1.0
        moved = np.zeros_like(prev)
        moved[24:44, 36:56] = True
        assert _frame_iou(prev, moved) > 0.8
    else:
        assert np.array_equal(prev, mask > 0)  # M(t-1) as it was


def test_online_adaptation_fits_the_given_frame_and_tracks_better() -> None:
    frames, labels = moving_squares(4, (64, 96), (Square(20, (20, 20), (2.0, 3.0)),), seed=7)
    gt = labels == 1
    first = gt[0].astype(np.uint8)

    def run(steps: int) -> tuple[RanetTracker, list[float]]:
        trk = _tracker(online_steps=steps, online_lr=3e-3, online_batch=2, bbox_crop=False)
        trk.step(frames[0], first)
        ious = [_frame_iou(trk.step(f).labels == 1, g)
                for f, g in zip(frames[1:], gt[1:], strict=True)]
        return trk, ious

    base, base_ious = run(0)
    trk, ious = run(40)
    assert trk.model is not trk.base_model  # a fine-tuned copy ...
    assert all(torch.equal(a, b) for a, b in zip(base.model.state_dict().values(),
                                                 trk.base_model.state_dict().values(),
                                                 strict=True))
    # ... that fits pairs of the given frame better (fixed pairs, same for both models)
    from gazevos.losses.ranet import soft_iou_loss

    def loss(model: RANet) -> float:
        rng = np.random.default_rng(99)
        pairs = [trk._online_pair(frames[0], first.astype(np.float32), rng) for _ in range(8)]
        img = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2)
        tmpl_img, tmpl_mask = trk._template_inputs[1]
        with torch.no_grad():
            logits = model(tmpl_img.expand(8, -1, -1, -1), tmpl_mask.expand(8, -1, -1, -1),
                           normalise_image(img),
                           torch.from_numpy(np.stack([p[2] for p in pairs])).unsqueeze(1))
        return float(soft_iou_loss(logits, torch.from_numpy(
            np.stack([p[1] for p in pairs])).unsqueeze(1)))

    assert loss(trk.model) < 0.7 * loss(trk.base_model)
    assert len(trk.adaptations) == 1 and trk.adaptations[0]["objects"] == 1
    assert trk.adaptations[0]["loss_last"] < trk.adaptations[0]["loss_first"]
    # and tracks the moving square better than the model without adaptation
    assert np.mean(ious) > np.mean(base_ious) + 0.1 and np.mean(ious) > 0.5
    trk.reset()  # the next video starts from the base model again
    assert trk.model is trk.base_model


def test_online_adaptation_with_several_objects_and_crops() -> None:
    frames, labels = _video()
    trk = _tracker(online_steps=2, online_batch=3, template_crop=True, online_flip=True)
    trk.step(frames[0], labels[0].copy())  # object 1 only at frame 0
    adapted = trk.model
    pred = trk.step(frames[2], labels[2], objects=[2])  # object 2 appears: adapt again
    assert trk.model is not adapted and len(trk.adaptations) == 2
    assert pred.object_ids == (1, 2)
    assert trk.step(frames[3]).probs.shape == (3, 64, 96)
    with pytest.raises(GazevosError, match="online_loss"):
        _tracker(online_loss="dice")



def test_online_updates_on_own_masks_every_n_frames() -> None:
    frames, labels = _video()
    trk = _tracker(online_steps=2, online_every=2, online_update_steps=1)
    trk.step(frames[0], labels[0].copy())
    kernels = {i: t[0].clone() for i, t in trk._templates.items()}
    models = [trk.model]
    for f in frames[1:6]:
        trk.step(f)
        models.append(trk.model)
    # the given frame, then frames 2 and 4 (every 2 frames), one step each
    assert [(a["frame"], a["steps"]) for a in trk.adaptations] == [(0, 2), (2, 1), (4, 1)]
    assert models[1] is models[0] and models[2] is not models[1] and models[3] is models[2]
    # templates re-embedded with the updated model, from the given frames
    assert all(not torch.equal(kernels[i], trk._templates[i][0]) for i in kernels)
    off = _tracker(online_steps=2)
    off.step(frames[0], labels[0].copy())
    for f in frames[1:6]:
        off.step(f)
    assert len(off.adaptations) == 1

def test_near_radius_drops_a_far_blob_in_the_tracker(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    frames, labels = _video()
    trk = _tracker(near_radius=0.5, bbox_crop=False)
    trk.step(frames[0], labels[0].copy())
    h, w = trk.size

    def fake(feats, emb, kernel, m, prev):  # noqa: ANN001, ANN202
        logit = torch.full((kernel.shape[0], 1, h, w), -5.0)
        logit[:, :, 8:24, 10:26] = 5.0          # at the first square (frame 1: 9-25 x 10-26)
        logit[:, :, 48:60, 70:90] = 5.0         # far from both squares' masks
        return logit

    monkeypatch.setattr(trk.model, "segment", fake)
    pred = trk.step(frames[1])
    assert (pred.labels[12, 15] > 0) and (pred.labels[54, 80] == 0)


def test_flip_test_averages_the_mirrored_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    frames, labels = _video()
    out = {}
    for flip in (False, True):
        trk = _tracker(flip_test=flip, bbox_crop=False)
        trk.step(frames[0], labels[0].copy())

        def ramp(feats, emb, kernel, m, prev):  # noqa: ANN001, ANN202
            k, _, h, w = prev.shape
            x = torch.linspace(-4.0, 4.0, w)     # the answer depends on x only
            return x.view(1, 1, 1, w).expand(k, 1, h, w)

        monkeypatch.setattr(trk.model, "segment", ramp)
        out[flip] = trk._propagate(frames[1])[1]
    assert out[False][5, -1] > 0.95 and out[False][5, 0] < 0.05
    # mirrored pass flipped back: sigmoid(x) and sigmoid(-x) average to 0.5 everywhere
    assert np.allclose(out[True], 0.5, atol=1e-5)


def test_online_update_sources_confident_and_anchored() -> None:
    frames, labels = _video()
    trk = _tracker(online_confident=0.9, online_far=0.5)
    trk.step(frames[0], labels[0].copy())
    probs = np.zeros((2, 64, 96), dtype=np.float32)
    probs[1, 20:40, 20:40] = 0.6                  # the object: 400 px, 20 px far = 10 px
    probs[1, 25:35, 25:35] = 0.95                 # its confident core
    probs[0] = 1.0 - probs[1]
    srcs = trk._update_sources(frames[3], Prediction(probs, (1,)))
    assert [s[0] for s in srcs] == [1, 1]
    given, own = srcs
    assert np.array_equal(given[1], frames[0]) and given[3] is None  # anchored to the given frame
    assert np.array_equal(given[2], (labels[0] == 1).astype(np.float32))
    assert own[2].sum() == 100 and own[2][30, 30] == 1.0       # object = confident core
    valid = own[3] > 0
    assert valid[30, 30] and not valid[22, 22]                 # unsure part of the mask
    assert not valid[40, 45] and valid[40, 55] and valid[0, 0]  # band 10 px, far bg
    plain = _tracker()._update_sources(frames[3], Prediction(probs, (1,)))
    assert len(plain) == 1 and plain[0][2].sum() == 400 and plain[0][3] is None


def test_confident_online_updates_train_with_the_valid_map() -> None:
    frames, labels = _video()
    trk = _tracker(online_steps=1, online_every=2, online_update_steps=2,
                   online_confident=0.5, online_batch=2)
    trk.step(frames[0], labels[0].copy())
    for f in frames[1:3]:
        trk.step(f)
    assert [(a["frame"], a["steps"]) for a in trk.adaptations] == [(0, 1), (2, 2)]
    rng = np.random.default_rng(0)
    valid = np.zeros((64, 96), dtype=np.float32)
    valid[:16] = 1.0                              # the top half of the square
    img, tgt, prev, v = trk._online_pair(frames[0], (labels[0] == 1).astype(np.float32),
                                          rng, valid)
    assert v is not None and v.shape == tgt.shape and set(np.unique(v)) <= {0.0, 1.0}
    assert 0 < v.mean() < 1


def test_ranet_tracker_never_imports_training_code() -> None:
    import subprocess
    import sys

    code = ("import sys, gazevos.track.ranet; "
            "bad = [m for m in sys.modules if m.startswith('gazevos.train')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("preset", ["ranet_no_online", "ranet_release", "ranet_nobox",
                                    "ranet_noprev", "ranet_noprev_nobox"])
def test_tracker_presets_load(preset: str) -> None:
    from gazevos.config import load_config

    cfg = load_config(RanetTrackerConfig, preset)
    if preset == "ranet_release":
        assert tuple(cfg.input_size) == (0, 0)
    if preset == "ranet_no_online":
        assert cfg.online_steps == 0 and cfg.near_radius == 0.25


def test_memory_template_is_stacked_below_the_given_one(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    frames, labels = _video()
    trk = _tracker(memory_every=2)
    kernels: list[tuple[int, ...]] = []
    segment = trk.model.segment

    def spy(feats, emb, kernel, m, prev):  # noqa: ANN001, ANN202
        kernels.append(tuple(kernel.shape))
        assert m.shape[-2:] == kernel.shape[-2:]
        return segment(feats, emb, kernel, m, prev)

    monkeypatch.setattr(trk.model, "segment", spy)
    trk.step(frames[0], labels[0].copy())
    assert trk._memory == {}
    trk.step(frames[1])  # frame 1: not a memory frame
    assert trk._memory == {}
    pred = trk.step(frames[2])  # frame 2: remembered from this frame's crop
    assert set(trk._memory) == set(pred.object_ids)
    box, emb = trk._last
    y0, x0, y1, x1 = box
    own = (pred.labels[y0:y1, x0:x1] == 1).astype(np.float32)
    small = torch.from_numpy(cv2.resize(own, (96, 64), interpolation=cv2.INTER_LINEAR))
    kernel, m = trk.model.template(emb, small.view(1, 1, 64, 96))
    assert torch.allclose(trk._memory[1][0], kernel) and torch.allclose(trk._memory[1][1], m)
    trk.step(frames[3])
    th, tw = TINY.template_grid
    # frames 1, 2: the given template only; frame 3: given + memory stacked (object 1)
    assert kernels == [(1, 8, th, tw), (1, 8, th, tw), (1, 8, 2 * th, tw)]
    trk.step(frames[4], labels[4].copy())  # new masks given: the memory is dropped
    assert trk._memory == {}


def test_memory_off_by_default_and_changes_the_output() -> None:
    assert RanetTrackerConfig().memory_every == 0
    frames, labels = _video()
    outs = []
    for every in (0, 1):
        trk = _tracker(memory_every=every)
        trk.step(frames[0], labels[0].copy())
        outs.append(np.stack([trk.step(f).probs for f in frames[1:]]))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])  # frame 1: no memory yet
    assert not np.allclose(outs[0][1:], outs[1][1:])


def test_online_average_is_the_mean_of_the_last_steps(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    frames, labels = _video()
    first = (labels[0] == 1).astype(np.uint8)
    finals = {}
    snaps: list[list[torch.Tensor]] = []  # the weights after each Adam step
    step = torch.optim.Adam.step

    def spy(opt, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = step(opt, *a, **k)
        snaps.append([p.detach().clone() for g in opt.param_groups for p in g["params"]])
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    for n in (0, 1, 3):
        snaps.clear()
        trk = _tracker(online_steps=5, online_average=n)
        trk.step(frames[0], first)
        finals[n] = [p.detach().clone() for p in trk.model.parameters()]
        assert len(snaps) == 5
        want = snaps[-1] if n <= 1 else [torch.stack(ps).mean(0) for ps in zip(*snaps[-n:],
                                                                                 strict=True)]
        for got, exp in zip(finals[n], want, strict=True):
            torch.testing.assert_close(got, exp)
    assert all(torch.equal(a, b) for a, b in zip(finals[0], finals[1], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(finals[0], finals[3], strict=True))


@pytest.mark.parametrize("scale", [0.0, 0.5])
def test_online_encoder_lr_scale_slows_or_freezes_the_encoder(scale: float) -> None:
    frames, labels = _video()
    first = (labels[0] == 1).astype(np.uint8)
    start = _tracker().model.state_dict()  # same seed: the weights every tracker starts from
    trk = _tracker(online_steps=1, online_encoder_lr_scale=scale)
    trk.step(frames[0], first)
    moved = {n: (p - start[n]).abs().max().item() for n, p in trk.model.state_dict().items()
             if p.is_floating_point()}
    enc = max(v for n, v in moved.items() if n.startswith("base_model."))
    rest = max(v for n, v in moved.items() if not n.startswith("base_model."))
    # Adam's first step moves every weight with a gradient by its group's lr
    assert rest == pytest.approx(3e-4, rel=1e-3)
    assert enc == pytest.approx(3e-4 * scale, rel=1e-3, abs=1e-9)
    assert trk.step(frames[1]).labels.shape == labels[1].shape


def test_online_soup_averages_copies_adapted_with_their_own_pairs() -> None:
    frames, labels = _video()
    first = (labels[0] == 1).astype(np.uint8)

    def adapted(**kw: object) -> list[torch.Tensor]:
        trk = _tracker(online_steps=3, **kw)
        trk.step(frames[0], first)
        assert len(trk.adaptations) == 1
        return [p.detach().clone() for p in trk.model.parameters()]

    # copy r draws its pairs with seed online_seed + 1000 r (+ the frame index)
    w0, w1, soup = adapted(), adapted(online_seed=1000), adapted(online_soup=2)
    assert not all(torch.equal(a, b) for a, b in zip(w0, w1, strict=True))
    for a, b, s in zip(w0, w1, soup, strict=True):
        torch.testing.assert_close(s, (a + b) / 2)
    assert all(torch.equal(a, b) for a, b in zip(w0, adapted(online_soup=1), strict=True))
