"""The ``ranet`` tracker: crop box, multi-object bookkeeping, switches, registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.eval.synthetic import Square, moving_squares
from gazevos.models.ranet import RANet, RANetConfig, to_checkpoint
from gazevos.track import build_tracker
from gazevos.track.ranet import RanetTracker, RanetTrackerConfig, crop_box

TINY = RANetConfig(stem=4, widths=(4, 4, 8, 8), feature_dim=8, template_grid=(2, 3),
                   num_ranked=4, decoder_scale=0.0625, ranking_width=4)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convolutions: threads only add overhead


def test_crop_box_by_hand() -> None:
    m = np.zeros((100, 200), dtype=bool)
    m[40:60, 50:90] = True  # 20 x 40, centre (50, 70)
    assert crop_box(m, 1.5, 0.5) == (35, 40, 65, 100)  # 30 x 60
    assert crop_box(m, 1.5, 1.0) == (20, 40, 80, 100)  # widened to 60 x 60
    assert crop_box(m, 1.0, 0.5, min_frac=0.5) == (25, 20, 75, 120)  # at least 50 x 100
    m2 = np.zeros((100, 200), dtype=bool)
    m2[0:10, 190:200] = True
    assert crop_box(m2, 1.5, 0.5) == (0, 180, 13, 200)  # 15 x 30, clipped to the frame
    assert crop_box(np.zeros((4, 4), dtype=bool), 1.5, 0.5) is None


def _video() -> tuple[np.ndarray, np.ndarray]:
    return moving_squares(5, (64, 96), (Square(16, (8, 8), (1.0, 2.0)),
                                        Square(12, (40, 60), (-1.0, -1.0), appear=2)), seed=3)


def _tracker(**kw: object) -> RanetTracker:
    torch.manual_seed(0)
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
    trk = build_tracker("ranet", checkpoint=path)
    assert isinstance(trk, RanetTracker) and trk.size == (64, 96)
    trk = build_tracker("ranet", checkpoint=path, nms=True, input_size=(32, 64))
    assert trk.model.config.nms and trk.size == (32, 64)
    with pytest.raises(GazevosError, match="multiples of 32"):
        build_tracker("ranet", checkpoint=path, input_size=(30, 64))


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_prev_threshold_binarises_the_decoder_mask(threshold: float,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    frames, labels = _video()
    trk = _tracker(prev_threshold=threshold, bbox_crop=False)
    seen: list[torch.Tensor] = []
    segment = trk.model.segment

    def spy(feats, emb, kernel, m, prev):  # noqa: ANN001, ANN202
        seen.append(prev.clone())
        return segment(feats, emb, kernel, m, prev)

    monkeypatch.setattr(trk.model, "segment", spy)
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
