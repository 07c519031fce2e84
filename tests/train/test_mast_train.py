"""MAST training: data discovery, clip sampling, checkpoints, resume, CLI, torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _presets import tiny_mast_yaml
from gazevos.cli import main
from gazevos.errors import GazevosError
from gazevos.io.rundir import staging_path
from gazevos.io.video import VideoWriter
from gazevos.models.mast.model import load_checkpoint, read_checkpoint
from gazevos.train.video_data import ClipSampler, discover_videos

TINY_YAML = tiny_mast_yaml(steps=3, save_every=2)


def _frames(n: int, h: int = 32, w: int = 40, seed: int = 0) -> list[np.ndarray]:
    """A textured background with a red square moving right one pixel per frame."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        f = bg.copy()
        f[8:18, 4 + i:14 + i] = (220, 20, 20)
        out.append(f)
    return out


def _write_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:05d}.png")
    return folder


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "davis"
    _write_folder(root / "JPEGImages" / "480p" / "a", _frames(12, seed=1))
    _write_folder(root / "JPEGImages" / "480p" / "b", _frames(10, seed=2))
    return root


def test_discover_videos(tmp_path: Path, data: Path) -> None:
    assert [p.name for p in discover_videos([data])] == ["a", "b"]
    seq = data / "JPEGImages" / "480p" / "a"
    assert discover_videos([seq]) == [seq]
    vids = tmp_path / "vids"
    vids.mkdir()
    with VideoWriter(vids / "x.mp4", fps=10) as wr:
        for f in _frames(4):
            wr.write(f)
    assert discover_videos([vids]) == [vids / "x.mp4"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(GazevosError, match="holds no frames"):
        discover_videos([tmp_path / "empty"])
    with pytest.raises(GazevosError, match="no such"):
        discover_videos([tmp_path / "missing"])


def test_clip_sampler_same_transform_for_all_frames() -> None:
    static = np.stack([_frames(1, seed=3)[0]] * 9)  # every frame identical
    s = ClipSampler([static], (1, 2), 1, 6, 16, True, True, np.random.default_rng(0))
    for _ in range(10):
        gaps = s.gaps()
        assert gaps[1:] == (2, 1) and 3 <= gaps[0] <= 6
        clip = s.clip(gaps)
        assert clip.shape == (4, 16, 16, 3)
        assert all(np.array_equal(clip[0], c) for c in clip)  # one crop/flip/rotation
    moving = np.stack(_frames(9))
    s = ClipSampler([moving], (1,), 0, 6, 32, False, False, np.random.default_rng(0))
    clip = s.clip((1,))  # reference one frame before the query: square one pixel left
    assert not np.array_equal(clip[0], clip[1])
    red = [np.flatnonzero((c == (220, 20, 20)).all(-1).any(0)) for c in clip]
    assert red[0].size == red[1].size == 10 and red[1][0] == red[0][0] + 1
    with pytest.raises(GazevosError, match="no training video"):
        ClipSampler([moving[:2]], (1, 2), 1, 6, 16, True, True, np.random.default_rng(0))


def test_train_resume_init_via_cli(tmp_path: Path, data: Path, tiny_yaml: Path) -> None:
    out = tmp_path / "run"
    stage = staging_path(out)
    args = ["train", "mast", "--frames", str(data), "--out", str(out), "--config",
            str(tiny_yaml), "--no-progress", "--threads", "1"]
    assert main([*args, "--chunk-steps", "2"]) == 0
    assert not out.exists()  # unfinished: the run stays staged beside --out
    last = read_checkpoint(stage / "last.pt")
    assert last["step"] == 2 and "optimizer" in last and last["clusters"].shape == (4, 3)
    assert len((stage / "log.csv").read_text().splitlines()) == 3  # header + 2 steps
    assert main([*args, "--resume"]) == 0
    assert not stage.exists()
    last = read_checkpoint(out / "last.pt")
    assert last["step"] == 3
    assert len((out / "log.csv").read_text().splitlines()) == 4
    model = load_checkpoint(out / "model.pt")
    assert model.config.feature_dim == 8
    assert main(args) == 2  # a finished run is not replaced without --force
    # fine-tuning from the model: weights in, fresh optimiser and step count
    ft = tmp_path / "ft"
    assert main(["train", "mast", "--frames", str(data / "JPEGImages" / "480p" / "a"),
                 "--out", str(ft), "--config", str(tiny_yaml), "--init", str(out / "model.pt"),
                 "--steps", "1", "--no-progress", "--loss", "regression"]) == 0
    assert read_checkpoint(ft / "last.pt")["step"] == 1
    assert main([*args, "--resume-from", str(out / "model.pt"), "--force"]) == 2  # no optimiser
    assert not stage.exists()  # bad input leaves nothing behind
    assert read_checkpoint(out / "last.pt")["step"] == 3  # and keeps the finished run


def test_inference_never_imports_training() -> None:
    code = ("import sys, gazevos.track.mast, gazevos.models.mast; "
            "bad = [m for m in sys.modules if m.startswith(('gazevos.train', 'gazevos.losses'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path, data: Path, tiny_yaml: Path) -> None:
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29517", "-m", "gazevos.cli", "train", "mast", "--frames",
           str(data), "--out", str(out), "--config", str(tiny_yaml), "--no-progress"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    ck = read_checkpoint(out / "last.pt")
    assert ck["step"] == 3
    lines = (out / "log.csv").read_text().splitlines()
    assert len(lines) == 4  # only rank 0 logs
    assert torch.isfinite(torch.stack([v.float().sum() for v in ck["state_dict"].values()])).all()
