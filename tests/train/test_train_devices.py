"""Training and ``--device``: the CPU (and ``auto`` without a GPU) trains exactly as before,
the process's GPU and AMP switch under torchrun, and checkpoints written on a GPU resume
on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gazevos.devices
import gazevos.train.checkpointing
from _presets import tiny_mast_yaml
from gazevos.cli import main
from gazevos.models.mast.model import read_checkpoint
from gazevos.train.checkpointing import RunOptions, training_device

TINY_YAML = tiny_mast_yaml(steps=2)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without CUDA, also where the tests happen to run on one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> list[torch.device]:
    """``torch.cuda`` reports two GPUs (no kernel runs); returns the devices made current."""
    current: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    return current


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short frame folders and the tiny MAST preset."""
    base = tmp_path_factory.mktemp("train_dev")
    rng = np.random.default_rng(0)
    for name, n in (("a", 8), ("b", 8)):
        folder = base / "frames" / name
        folder.mkdir(parents=True)
        bg = rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)
        for i in range(n):
            f = bg.copy()
            f[8:18, 4 + i:14 + i] = (220, 20, 20)
            Image.fromarray(f).save(folder / f"{i:05d}.png")
    (base / "tiny.yaml").write_text(TINY_YAML)
    return base


def _train(base: Path, out: Path, *extra: str) -> int:
    return main(["train", "mast", "--frames", str(base / "frames" / "a"), "--frames",
                 str(base / "frames" / "b"), "--out", str(out), "--config",
                 str(base / "tiny.yaml"), "--no-progress", "--threads", "1", *extra])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.usefixtures("no_gpu")
def test_cpu_and_auto_without_a_gpu_train_as_the_default(base: Path, tmp_path: Path) -> None:
    assert _train(base, tmp_path / "default") == 0
    assert _train(base, tmp_path / "cpu", "--device", "cpu", "--amp") == 0
    assert _train(base, tmp_path / "auto", "--device", "auto") == 0
    ref = _weights(tmp_path / "default" / "model.pt")
    assert _same(_weights(tmp_path / "cpu" / "model.pt"), ref)
    assert _same(_weights(tmp_path / "auto" / "model.pt"), ref)
    assert "scaler" not in read_checkpoint(tmp_path / "cpu" / "last.pt")  # no AMP state


@pytest.mark.usefixtures("no_gpu")
def test_a_checkpoint_written_on_a_gpu_resumes_on_the_cpu(
        base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _train(base, tmp_path / "first") == 0
    data = torch.load(tmp_path / "first" / "last.pt", weights_only=True)
    gpu = tmp_path / "gpu-last.pt"
    with monkeypatch.context() as m:  # every tensor of the file tagged cuda:0, as a GPU run's
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(data, gpu)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(gpu, weights_only=True)
    assert _train(base, tmp_path / "from-gpu", "--steps", "3", "--resume-from", str(gpu)) == 0
    assert _train(base, tmp_path / "from-cpu", "--steps", "3", "--resume-from",
                  str(tmp_path / "first" / "last.pt")) == 0
    assert _same(_weights(tmp_path / "from-gpu" / "model.pt"),
                 _weights(tmp_path / "from-cpu" / "model.pt"))
    assert read_checkpoint(tmp_path / "from-gpu" / "model.pt")["step"] == 3


def test_training_device_places_each_process(two_gpus: list[torch.device],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cuda0, cuda1 = torch.device("cuda", 0), torch.device("cuda", 1)
    assert training_device(RunOptions()) == (torch.device("cpu"), False)  # the default
    assert training_device(RunOptions(device="cpu", amp=True)) == (torch.device("cpu"), False)
    assert training_device(RunOptions(device="auto")) == (cuda0, True)
    assert training_device(RunOptions(device="cuda", amp=False)) == (cuda0, False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert training_device(RunOptions(device="cuda"), world=2) == (cuda1, True)
    assert training_device(RunOptions(device="cuda:0"), world=2) == (cuda0, True)  # as asked
    assert two_gpus == [cuda0, cuda0, cuda1, cuda0]


@pytest.mark.usefixtures("no_gpu")
def test_amp_training_runs_in_reduced_precision(base: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The AMP path of ``train mast`` (encoder under autocast, search in float32) under CPU
    bfloat16 autocast, a stand-in for CUDA's float16: it trains, and differently."""
    import contextlib

    @contextlib.contextmanager
    def cpu_autocast(device: torch.device, enabled: bool = True):  # noqa: ANN202
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            yield

    cpu = torch.device("cpu")
    monkeypatch.setattr(gazevos.devices, "autocast", cpu_autocast)
    monkeypatch.setattr(gazevos.train.checkpointing, "training_device",
                        lambda opts, world=1: (cpu, True))
    assert _train(base, tmp_path / "amp") == 0
    monkeypatch.undo()
    assert _train(base, tmp_path / "fp32") == 0
    amp, fp32 = _weights(tmp_path / "amp" / "model.pt"), _weights(tmp_path / "fp32" / "model.pt")
    assert all(torch.isfinite(v).all() for v in amp.values())
    assert not _same(amp, fp32)
