"""``gazevos train semseg``, ``adapt semseg`` and ``segment`` -> ``propagate`` end to end,
and their bad inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from _cli_errors import one_error_line
from PIL import Image

from gazevos.cli import main
from gazevos.eval.metrics import db_eval_iou
from gazevos.io.masks import read_mask
from gazevos.models.semseg.checkpoint import load_model

TINY_YAML = """arch: tiny
size: [32, 48]
crop: [0, 0]
steps: 200
learning_rate: 0.01
save_every: 20
"""


@pytest.fixture
def davis(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A DAVIS-layout root with one 6-frame sequence: a bright square moving on noise."""
    rng = np.random.default_rng(0)
    img_dir = tmp_path / "davis" / "JPEGImages" / "480p" / "sq"
    ann_dir = tmp_path / "davis" / "Annotations" / "480p" / "sq"
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    labels = np.zeros((6, 32, 48), dtype=np.uint8)
    for t in range(6):
        img = rng.integers(0, 70, size=(32, 48, 3)).astype(np.uint8)
        y, x = 8 + t, 10 + 2 * t
        img[y:y + 14, x:x + 14] = (230, 220, 60)
        labels[t, y:y + 14, x:x + 14] = 1
        Image.fromarray(img).save(img_dir / f"{t:05d}.png")
        Image.fromarray(labels[t] * 255).save(ann_dir / f"{t:05d}.png")
    return tmp_path / "davis", labels


def test_train_segment_track_end_to_end(davis: tuple[Path, np.ndarray], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    root, labels = davis
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY_YAML)
    seq = root / "JPEGImages" / "480p" / "sq"
    assert main(["train", "semseg", "--data", str(root), "--config", str(cfg), "--out",
                 str(tmp_path / "ck"), "--no-progress", "--threads", "1"]) == 0
    ckpt = tmp_path / "ck" / "model.pt"
    assert main(["segment", str(seq), "--checkpoint", str(ckpt), "--out", str(tmp_path / "seg"),
                 "--objects", "components", "--min-pixels", "20", "--all"]) == 0
    assert len(list((tmp_path / "seg" / "labels").glob("*.png"))) == 6
    with open(tmp_path / "seg" / "objects.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["class"] for r in rows] == ["foreground"]
    objects = read_mask(tmp_path / "seg" / "objects.png")
    assert db_eval_iou(labels[0] > 0, objects == 1) > 0.5
    # the class map PNG uses the model's palette: 0 black (background), 1 white
    with Image.open(tmp_path / "seg" / "labels" / "00000.png") as im:
        assert im.mode == "P" and im.getpalette()[3:6] == [255, 255, 255]
    assert main(["propagate", str(seq), "--mask", str(tmp_path / "seg" / "objects.png"),
                 "--out", str(tmp_path / "trk"), "--tracker", "copy"]) == 0
    assert len(list((tmp_path / "trk").glob("*.png"))) == 6
    # adapt the model to (unlabelled) frames: DANN run, loadable result with the same classes
    assert main(["adapt", "semseg", "--checkpoint", str(ckpt), "--source", str(root),
                 "--target", str(seq), "--config", str(cfg), "--steps", "3", "--out",
                 str(tmp_path / "ad"), "--no-progress", "--lambda", "0.1"]) == 0
    adapted = load_model(tmp_path / "ad" / "model.pt")
    assert adapted.classes == ("background", "foreground")
    log = (tmp_path / "ad" / "log.csv").read_text().splitlines()
    assert len(log) == 4 and float(log[-1].split(",")[3]) > 0  # domain loss present
    capsys.readouterr()


def test_bad_inputs(davis: tuple[Path, np.ndarray], tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = davis
    seq = root / "JPEGImages" / "480p" / "sq"
    assert main(["segment", str(seq), "--checkpoint", str(tmp_path / "none.pt"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "none.pt: checkpoint file not found" in one_error_line(capsys)
    official = tmp_path / "official.pth"
    torch.save({"model.conv1.weight": torch.zeros(64, 3, 3, 3)}, official)
    assert main(["segment", str(seq), "--checkpoint", str(official), "--out",
                 str(tmp_path / "o")]) == 2
    assert "not a gazevos segmentation checkpoint" in one_error_line(capsys)
    assert main(["segment", str(seq), "--checkpoint", str(official), "--arch", "w99",
                 "--out", str(tmp_path / "o")]) == 2
    assert "unknown official architecture 'w99'" in one_error_line(capsys)
    assert main(["segment", str(seq), "--checkpoint", str(official), "--arch",
                 "w18-small-v1", "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys)
    assert "checkpoint does not match the model: missing keys" in line
    assert main(["adapt", "semseg", "--checkpoint", str(official), "--source", str(root),
                 "--out", str(tmp_path / "a")]) == 2
    assert "needs at least one --target" in one_error_line(capsys)
    assert main(["train", "semseg", "--data", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "t")]) == 2
    assert "nowhere: no such labelled data folder" in one_error_line(capsys)
    assert main(["train", "semseg", "--data", str(root), "--arch", "w99", "--out",
                 str(tmp_path / "t2")]) == 2
    assert "unknown architecture 'w99'" in one_error_line(capsys)
    assert main(["train", "semseg", "--data", str(root), "--sequences", "cat", "--out",
                 str(tmp_path / "t3")]) == 2
    assert "unknown sequences ['cat']" in one_error_line(capsys)


@pytest.mark.slow
def test_adapt_official_w18_small(davis: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    """An official-layout W18-small-v1 file (model. prefix, loss weight) adapts and
    segments; its 19 Cityscapes classes come along."""
    from gazevos.models.semseg.hrnet import ARCHITECTURES, HRNet

    torch.set_num_threads(1)
    root, _ = davis
    ref = HRNet(ARCHITECTURES["w18-small-v1"])
    state = {f"model.{k}": v for k, v in ref.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    state["loss.criterion.weight"] = torch.ones(19)
    official = tmp_path / "hrnet_w18_small_v1_cityscapes.pth"
    torch.save(state, official)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("size: [32, 48]\ncrop: [0, 0]\nbatch_size: 2\ntarget_batch_size: 2\n")
    seq = root / "JPEGImages" / "480p" / "sq"
    assert main(["adapt", "semseg", "--checkpoint", str(official), "--arch", "w18-small-v1",
                 "--source", str(root), "--target", str(seq), "--config", str(cfg),
                 "--steps", "2", "--out", str(tmp_path / "ad"), "--no-progress"]) == 0
    model = load_model(tmp_path / "ad" / "model.pt")
    assert len(model.classes) == 19 and model.classes[0] == "road"
    assert main(["segment", str(seq), "--checkpoint", str(official), "--arch", "w18-small-v1",
                 "--out", str(tmp_path / "seg"), "--objects", "none"]) == 0
    with Image.open(tmp_path / "seg" / "labels" / "00000.png") as im:
        assert im.getpalette()[:3] == [128, 64, 128]  # Cityscapes road colour
