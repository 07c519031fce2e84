"""RANet training: pair sampling keeps masks on their objects, resume, early stopping,
CLI and torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gazevos.cli import main
from gazevos.errors import GazevosError
from gazevos.io.masks import write_mask
from gazevos.io.rundir import staging_path
from gazevos.models.ranet import read_checkpoint
from gazevos.track import build_tracker
from gazevos.train.ranet import RanetTrainConfig, RunOptions, train_ranet
from gazevos.train.ranet_data import PairConfig, PairSampler, load_sequences

TINY_YAML = """
model: {stem: 4, widths: [4, 4, 8, 8], feature_dim: 8, template_grid: [2, 3], num_ranked: 4,
        decoder_scale: 0.0625, ranking_width: 4}
pairs: {size: [64, 96]}
frame_scale: 1.0
batch_size: 2
steps: 2
save_every: 1
val_every: 1
val_pairs: 2
"""


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _red_square_davis(root: Path, names: dict[str, int]) -> Path:
    """Grey-green noisy backgrounds with one pure red square (object 1) moving right."""
    rng = np.random.default_rng(0)
    for name, n in names.items():
        img_dir = root / "JPEGImages" / "480p" / name
        ann_dir = root / "Annotations" / "480p" / name
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        bg = np.zeros((72, 108, 3), dtype=np.uint8)
        bg[..., 1] = rng.integers(60, 200, (72, 108))
        bg[..., 2] = bg[..., 1]
        for t in range(n):
            f, lab = bg.copy(), np.zeros((72, 108), dtype=np.uint8)
            f[20:44, 10 + 3 * t:34 + 3 * t] = (255, 0, 0)
            lab[20:44, 10 + 3 * t:34 + 3 * t] = 1
            Image.fromarray(f).save(img_dir / f"{t:05d}.png")
            write_mask(ann_dir / f"{t:05d}.png", lab)
    return root


def test_pairs_keep_masks_on_objects(tmp_path: Path) -> None:
    # frames are PNG here; the loader reads .jpg: write JPEG copies next to them
    root = _red_square_davis(tmp_path / "d", {"a": 6, "b": 5})
    for p in (root / "JPEGImages").rglob("*.png"):
        Image.open(p).save(p.with_suffix(".jpg"), quality=100)
    seqs = load_sequences(root, ["a", "b"], 1.0)
    assert seqs[0].frames.shape == (6, 72, 108, 3) and seqs[0].labels.max() == 1
    for synthetic in (0.0, 1.0):
        sampler = PairSampler(seqs, PairConfig(size=(64, 96), synthetic=synthetic,
                                               prev_jitter=0.0), np.random.default_rng(1))
        for _ in range(6):
            p = sampler.sample()
            for img, mask in ((p.template_img, p.template_mask), (p.target_img, p.target_mask)):
                r, g = img[..., 0].astype(int), img[..., 1].astype(int)
                m = mask > 0.5
                assert m.sum() > 20
                assert (m & (r > g)).sum() >= 0.95 * m.sum()  # the mask sits on the square
                clear = r > g + 150  # well inside a red square
                if synthetic == 0.0:  # composites keep the background's own square
                    assert (clear & m).sum() >= 0.95 * clear.sum()  # mask covers it
            assert set(np.unique(p.prev_mask)) <= {0.0, 1.0}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = _red_square_davis(tmp_path / "davis", {"a": 6, "b": 5, "c": 5})
    for p in (root / "JPEGImages").rglob("*.png"):
        Image.open(p).save(p.with_suffix(".jpg"), quality=100)
        p.unlink()
    return root


def _cfg(tiny_yaml: Path, **kw: object) -> RanetTrainConfig:
    from gazevos.config import load_config

    return load_config(RanetTrainConfig, tiny_yaml, kw)


def test_train_resume_and_tracker(tmp_path: Path, data: Path, tiny_yaml: Path) -> None:
    out = tmp_path / "run"
    opts = RunOptions(progress=False, max_steps=2)
    staged = train_ranet(data, ["a", "b"], ["c"], out, _cfg(tiny_yaml, steps=4), opts)
    assert staged == staging_path(out) / "model.pt" and not out.exists()
    assert read_checkpoint(staging_path(out) / "last.pt")["step"] == 2
    path = train_ranet(data, ["a", "b"], ["c"], out, _cfg(tiny_yaml, steps=4),
                       RunOptions(resume=True, progress=False))
    assert path == out / "model.pt" and not staging_path(out).exists()
    last = read_checkpoint(out / "last.pt")
    assert last["step"] == 4 and "optimizer" in last
    lines = (out / "log.csv").read_text().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["step", "1", "2", "3", "4"]
    assert all(ln.split(",")[2] for ln in lines[1:])  # validated every step
    ck = read_checkpoint(path)
    assert ck["input_size"] == (64, 96) and 0.0 <= ck["best"] <= 1.0
    assert ck["sequences"] == ["a", "b"] and ck["val_sequences"] == ["c"]
    assert 1 <= ck["step"] <= 4 and ck["step"] == last["best_step"]  # weights of the best step
    trk = build_tracker("ranet", checkpoint=path, online_steps=2)  # few steps: test time
    frame = np.zeros((72, 108, 3), dtype=np.uint8)
    mask = np.zeros((72, 108), dtype=np.uint8)
    mask[10:30, 10:30] = 1
    trk.step(frame, mask)
    assert trk.step(frame).probs.shape == (2, 72, 108)


def test_early_stopping(tmp_path: Path, data: Path, tiny_yaml: Path) -> None:
    # learning rate 0: the validation score never improves after the first check
    cfg = _cfg(tiny_yaml, steps=10, learning_rate=0.0, patience=2)
    train_ranet(data, ["a"], ["c"], tmp_path / "es", cfg, RunOptions(progress=False))
    last = read_checkpoint(tmp_path / "es" / "last.pt")
    assert last["step"] == 3 and last["stopped"] and last["bad"] == 2
    # an early-stopped run is finished: nothing to resume
    with pytest.raises(GazevosError, match="nothing to resume: this is a finished run"):
        train_ranet(data, ["a"], ["c"], tmp_path / "es", cfg,
                    RunOptions(resume=True, progress=False))
    assert read_checkpoint(tmp_path / "es" / "last.pt")["step"] == 3


def test_cli_train_ranet(tmp_path: Path, data: Path, tiny_yaml: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.txt").write_text("a\nb\n")
    (tmp_path / "val.txt").write_text("c\n")
    args = ["train", "ranet", "--root", str(data), "--sequences-file",
            str(tmp_path / "train.txt"), "--val-file", str(tmp_path / "val.txt"), "--out",
            str(tmp_path / "cli"), "--config", str(tiny_yaml), "--loss", "log_iou",
            "--discriminant", "--nms", "--no-progress", "--chunk-steps", "1", "--threads", "1"]
    assert main(args) == 0
    assert "continue it with the same command and --resume" in capsys.readouterr().out
    ck = read_checkpoint(staging_path(tmp_path / "cli") / "last.pt")
    assert ck["step"] == 1 and ck["train_config"]["loss"] == "log_iou"
    assert ck["model_config"]["discriminant"] and ck["model_config"]["nms"]
    assert main([*args, "--resume", "--loss", "bce"]) == 2  # other settings: refused
    assert "other config.loss" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    assert read_checkpoint(tmp_path / "cli" / "last.pt")["step"] == 2
    assert capsys.readouterr().out.startswith("model: ")
    assert main(args) == 2  # a finished run, no --force
    assert "error" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path, data: Path, tiny_yaml: Path) -> None:
    (tmp_path / "train.txt").write_text("a\nb\n")
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29531", "-m", "gazevos.cli", "train", "ranet", "--root",
           str(data), "--sequences-file", str(tmp_path / "train.txt"), "--out", str(out),
           "--config", str(tiny_yaml), "--no-progress", "--threads", "1"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    ck = read_checkpoint(out / "last.pt")
    assert ck["step"] == 2
    assert len((out / "log.csv").read_text().splitlines()) == 3  # only rank 0 logs


def test_init_encoder_starts_from_mast_weights(tmp_path: Path, data: Path,
                                                tiny_yaml: Path) -> None:
    from gazevos.errors import GazevosError
    from gazevos.models.mast import MastModel, MastModelConfig, model_to_checkpoint

    torch.manual_seed(3)
    mast = MastModel(MastModelConfig(widths=(4, 8, 8), feature_dim=6))
    torch.save(model_to_checkpoint(mast), tmp_path / "mast.pt")
    model = {"encoder": "mast", "mast_widths": [4, 8, 8], "mast_dim": 6}
    # learning rate 0: trained weights stay exactly the MAST weights
    cfg = _cfg(tiny_yaml, learning_rate=0.0, model=model)
    train_ranet(data, ["a"], [], tmp_path / "m", cfg, RunOptions(progress=False),
                init_encoder=tmp_path / "mast.pt")
    ck = read_checkpoint(tmp_path / "m" / "last.pt")
    assert ck["model_config"]["encoder"] == "mast"
    assert ck["init_encoder"] == str(tmp_path / "mast.pt")
    want = mast.encoder.state_dict()
    for k in ("stem.0.weight", "stages.1.0.conv2.weight", "head.bias"):
        assert torch.equal(ck["state_dict"][f"base_model.mast.{k}"], want[k]), k
    # without it, the same seed gives other encoder weights
    train_ranet(data, ["a"], [], tmp_path / "s", cfg, RunOptions(progress=False))
    sd = read_checkpoint(tmp_path / "s" / "last.pt")["state_dict"]
    assert not torch.equal(sd["base_model.mast.stem.0.weight"], want["stem.0.weight"])
    with pytest.raises(GazevosError, match="not both"):
        train_ranet(data, ["a"], [], tmp_path / "x", cfg,
                    RunOptions(progress=False, init=str(tmp_path / "s" / "last.pt")),
                    init_encoder=tmp_path / "mast.pt")
    with pytest.raises(GazevosError, match="encoder: mast"):  # a ResNet-encoder RANet
        train_ranet(data, ["a"], [], tmp_path / "y", _cfg(tiny_yaml),
                    RunOptions(progress=False), init_encoder=tmp_path / "mast.pt")


def test_prev_morph_erodes_or_dilates() -> None:
    from gazevos.train.ranet_data import _morph

    mask = np.zeros((60, 60), dtype=np.float32)
    mask[20:40, 20:40] = 1.0  # 20 x 20: radii up to round(0.5 * 20) = 10
    rng = np.random.default_rng(0)
    assert np.array_equal(_morph(mask, rng, 0.0), mask)
    kinds = set()
    for _ in range(40):
        out = _morph(mask, rng, 0.5)
        if np.array_equal(out, mask):
            continue
        if (out <= mask).all():
            kinds.add("erode")
        else:
            assert (out >= mask).all()  # otherwise a dilation: a superset
            assert out[10:50, 10:50].sum() == out.sum()  # at most 10 pixels wider
            kinds.add("dilate")
    assert kinds == {"erode", "dilate"}


def test_box_crop_pairs_frame_the_object_like_the_tracker(tmp_path: Path) -> None:
    root = _red_square_davis(tmp_path / "d", {"a": 6})
    for p in (root / "JPEGImages").rglob("*.png"):
        Image.open(p).save(p.with_suffix(".jpg"), quality=100)
    seqs = load_sequences(root, ["a"], 1.0)
    cfg = PairConfig(size=(64, 96), synthetic=0.0, rotate=0.0, flip=False,
                     scale_range=(1.0, 1.0), prev_jitter=0.0, box_crop=1.0)
    sampler = PairSampler(seqs, cfg, np.random.default_rng(2))
    for _ in range(4):
        p = sampler.sample()
        # 24 x 24 square, window 1.5 x 24 = 36 rows -> 64 rows: the square is 24 * 64 / 36
        for m in (p.template_mask, p.prev_mask):
            rows = np.flatnonzero(m.any(1))
            assert rows.size == pytest.approx(24 * 64 / 36, abs=1.5)
            assert 0 < rows[0] and rows[-1] < 63  # whole object inside, off the border


def test_init_encoder_starts_from_u2netp_weights(tmp_path: Path, data: Path,
                                                  tiny_yaml: Path) -> None:
    from gazevos.models.u2netp import U2Netp

    torch.manual_seed(4)
    net = U2Netp()
    torch.save(net.state_dict(), tmp_path / "u2.pt")
    cfg = _cfg(tiny_yaml, learning_rate=0.0, model={"encoder": "u2netp"})
    train_ranet(data, ["a"], [], tmp_path / "m", cfg, RunOptions(progress=False),
                init_encoder=tmp_path / "u2.pt")
    ck = read_checkpoint(tmp_path / "m" / "last.pt")
    assert ck["model_config"]["encoder"] == "u2netp"
    want = net.state_dict()
    for k in ("stages.0.conv_in.0.weight", "stages.4.dec.0.0.bias"):
        assert torch.equal(ck["state_dict"][f"base_model.{k}"], want[k]), k


def test_encoder_lr_scale_slows_only_the_encoder(tiny_yaml: Path) -> None:
    from gazevos.models.ranet import RANet

    cfg = _cfg(tiny_yaml)
    model = RANet(cfg.model)
    assert len(model.param_groups(1e-2, 1.0)) == 1
    opt = torch.optim.Adam(model.param_groups(1e-2, 0.1), lr=1e-2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()  # Adam's first step moves every weight by lr (times its group's scale)
    for n, p in model.named_parameters():
        want = 1e-3 if n.startswith("base_model.") else 1e-2
        assert torch.allclose(before[n] - p.detach(), torch.full_like(p, want), atol=1e-6), n


@pytest.mark.parametrize(("preset", "encoder", "box_crop", "encoder_lr"),
                         [("ranet_train_box", "resnet", 0.5, 1.0),
                          ("ranet_train_mast", "mast", 0.0, 1.0),
                          ("ranet_train_u2netp", "u2netp", 0.5, 0.1)])
def test_training_presets_load(preset: str, encoder: str, box_crop: float,
                               encoder_lr: float) -> None:
    from gazevos.config import load_config

    cfg = load_config(RanetTrainConfig, preset)
    assert cfg.model.encoder == encoder
    assert cfg.pairs.box_crop == box_crop
    assert cfg.encoder_lr_scale == encoder_lr


def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(
        tmp_path: Path, data: Path, tiny_yaml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tiny_yaml, steps=4, save_every=100, patience=0)
    full = train_ranet(data, ["a", "b"], ["c"], tmp_path / "full", cfg,
                       RunOptions(progress=False))
    real, calls = PairSampler.sample, []

    def sample(self):  # noqa: ANN001, ANN202
        calls.append(1)
        pair = real(self)
        if len(calls) == 2 * 2 + 2 + 1:  # 2 validation pairs, then step 3's first pair
            raise KeyboardInterrupt
        return pair

    monkeypatch.setattr(PairSampler, "sample", sample)
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt, match="stopped at step 2 of 4"):
        train_ranet(data, ["a", "b"], ["c"], out, cfg, RunOptions(progress=False))
    monkeypatch.setattr(PairSampler, "sample", real)
    assert read_checkpoint(staging_path(out) / "last.pt")["step"] == 2
    path = train_ranet(data, ["a", "b"], ["c"], out, cfg,
                       RunOptions(progress=False, resume=True))
    for name in ("model.pt", "last.pt"):
        a, b = read_checkpoint(full.parent / name), read_checkpoint(path.parent / name)
        assert a["step"] == b["step"] and a["best"] == b["best"]
        assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
