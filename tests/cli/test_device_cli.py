"""``--device`` / ``--amp`` on the commands that run models: the CPU is the default, ``cuda``
where there is none (or a bad name) is one error line before any work, and ``--device
cpu`` / ``auto`` (without a GPU) give the default's masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _cli_errors import one_error_line
from PIL import Image

from gazevos.cli import main
from gazevos.eval.synthetic import Square, moving_squares
from gazevos.io.masks import read_mask, write_mask
from gazevos.models.mast.model import MastModel, MastModelConfig, model_to_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread", "no_gpu")


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without CUDA, also where the tests happen to run on one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


#: every command with --device, with arguments naming inputs that do not exist
COMMANDS: dict[str, list[str]] = {
    "propagate": ["propagate", "frames", "--mask", "first.png", "--tracker", "mast"],
    "annotate": ["annotate", "recording", "--box", "a:0,0,4,4@0", "--tracker", "ranet"],
    "davis run": ["davis", "run", "--root", "davis", "--tracker", "mast"],
    "segment": ["segment", "frames", "--checkpoint", "model.pt"],
    "train mast": ["train", "mast", "--frames", "frames"],
    "train ranet": ["train", "ranet", "--root", "davis", "--sequences-file", "train.txt"],
    "train semseg": ["train", "semseg", "--data", "davis"],
    "adapt semseg": ["adapt", "semseg", "--checkpoint", "model.pt", "--source", "davis",
                     "--target", "video.mp4"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("device", "message"), [
    ("cuda", "--device cuda: no CUDA GPU is available (torch.cuda.is_available() is False)"),
    ("cuda:1", "--device cuda:1: no CUDA GPU is available"),
    ("gpu", "--device: 'gpu' is not a device (choose auto, cpu, cuda or cuda:N)"),
])
def test_a_missing_gpu_or_a_bad_device_is_one_line_before_any_work(
        command: str, device: str, message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main([*COMMANDS[command], "--out", "out", "--device", device, "--amp"])
    line = one_error_line(capsys)
    assert code == 2 and line.startswith(f"gazevos: error: {message}"), line
    assert list(tmp_path.iterdir()) == []  # nothing read, nothing written


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_cpu_is_the_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = COMMANDS[command][:2] if COMMANDS[command][0] in ("davis", "train", "adapt") \
        else COMMANDS[command][:1]
    assert main([*argv, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--device auto|cpu|cuda[:N]" in out and "[default: cpu]" in out
    assert "--amp / --no-amp" in out


def test_propagate_on_the_cpu_or_auto_gives_the_default_masks(tmp_path: Path) -> None:
    frames, labels = moving_squares(4, (64, 96), [Square(20, (10, 10), (1.0, 2.0))], seed=2)
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{t:05d}.png")
    write_mask(tmp_path / "first.png", labels[0])
    torch.manual_seed(0)  # a tiny untrained encoder: fast, and enough to compare runs
    ckpt = tmp_path / "mast.pt"
    torch.save(model_to_checkpoint(MastModel(MastModelConfig(widths=(8, 16), depths=(1, 1),
                                                             feature_dim=16))), ckpt)
    runs = {"default": [], "cpu": ["--device", "cpu", "--no-amp"], "auto": ["--device", "auto"]}
    for name, extra in runs.items():
        assert main(["propagate", str(folder), "--mask", str(tmp_path / "first.png"), "--out",
                     str(tmp_path / name), "--tracker", "mast", "--checkpoint", str(ckpt),
                     *extra]) == 0
    for t in range(4):
        ref = read_mask(tmp_path / "default" / f"{t:05d}.png")
        for name in ("cpu", "auto"):
            assert np.array_equal(read_mask(tmp_path / name / f"{t:05d}.png"), ref), (name, t)
