"""Trackers and ``device``: the CPU gives exactly the default masks, training-free trackers
accept and ignore it, CUDA where there is none is refused before loading, and state saved
on a GPU (files whose tensors say ``cuda:0``) loads and goes on on the CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import gazevos.track.classic.learned
import gazevos.track.mast
import gazevos.track.ranet
from gazevos.errors import GazevosError
from gazevos.eval.synthetic import Square, moving_squares
from gazevos.models.mast.model import MastModel, MastModelConfig, model_to_checkpoint
from gazevos.models.ranet import RANet, RANetConfig, to_checkpoint
from gazevos.track import build_tracker
from gazevos.track.base import Tracker
from gazevos.track.resumable import load_state, save_state

CPU = torch.device("cpu")
TINY_RANET = RANetConfig(stem=4, widths=(4, 4, 8, 8), feature_dim=8, template_grid=(2, 3),
                         num_ranked=4, decoder_scale=0.0625, ranking_width=4)

pytestmark = pytest.mark.usefixtures("one_thread", "no_gpu")


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without CUDA, also where the tests happen to run on one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny untrained MAST and RANet checkpoints."""
    base = tmp_path_factory.mktemp("dev_ck")
    torch.manual_seed(0)
    torch.save(model_to_checkpoint(MastModel(MastModelConfig(widths=(8, 16), depths=(1, 1),
                                                             feature_dim=16))),
               base / "mast.pt")
    torch.save(to_checkpoint(RANet(TINY_RANET), input_size=(64, 96)), base / "ranet.pt")
    return {"mast": base / "mast.pt", "ranet": base / "ranet.pt"}


def _video() -> tuple[np.ndarray, np.ndarray]:
    return moving_squares(4, (64, 96), (Square(16, (8, 8), (1.0, 2.0)),
                                        Square(12, (40, 60), (-1.0, -1.0))), seed=3)


def _run(trk: Tracker, frames: np.ndarray, first: np.ndarray, start: int = 0,
         stop: int | None = None) -> list[np.ndarray]:
    """Probabilities of frames ``start:stop``, the first mask given on frame 0."""
    out = []
    for i in range(start, len(frames) if stop is None else stop):
        out.append(trk.step(frames[i], mask=first if i == 0 else None).probs)
    return out


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


#: name -> build_tracker settings of a fast configuration (ranet with 2 adaptation steps)
SETTINGS: dict[str, dict[str, object]] = {
    "mast": {"scale": 0.5},
    "ranet": {"input_size": (64, 96), "online_steps": 2, "online_batch": 1},
}


def _build(checkpoints: dict[str, Path], name: str, **kw: object) -> Tracker:
    torch.manual_seed(0)
    return build_tracker(name, checkpoint=checkpoints[name], **SETTINGS[name], **kw)


@pytest.mark.parametrize("name", ["mast", "ranet"])
def test_device_cpu_and_auto_without_a_gpu_give_the_default_masks(
        checkpoints: dict[str, Path], name: str) -> None:
    frames, labels = _video()
    default = _run(_build(checkpoints, name), frames, labels[0])
    for kw in ({"device": "cpu"}, {"device": "auto"}, {"device": CPU, "amp": True}):
        trk = _build(checkpoints, name, **kw)
        assert trk.device == CPU and trk.amp is False  # type: ignore[attr-defined]
        assert _same(_run(trk, frames, labels[0]), default), kw


def test_classic_with_learned_features_on_the_cpu_gives_the_default_masks(
        checkpoints: dict[str, Path]) -> None:
    frames, labels = _video()
    kw = {"checkpoint": checkpoints["mast"], "learned_features": "mast", "learned_dims": 2}
    default = _run(build_tracker("classic", **kw), frames, labels[0], stop=2)
    trk = build_tracker("classic", device="cpu", **kw)
    assert trk.extractor.device == CPU  # type: ignore[attr-defined]
    assert _same(_run(trk, frames, labels[0], stop=2), default)


@pytest.mark.parametrize("name", ["copy", "flow", "classic"])
def test_trackers_without_a_model_accept_a_device(name: str) -> None:
    frames, labels = _video()
    a = _run(build_tracker(name), frames, labels[0], stop=2)
    assert _same(_run(build_tracker(name, device="cpu", amp=False), frames, labels[0], stop=2), a)


@pytest.mark.parametrize("name", ["mast", "ranet", "copy"])
def test_cuda_without_a_gpu_is_refused_before_anything_is_loaded(name: str, tmp_path: Path
                                                                 ) -> None:
    with pytest.raises(GazevosError, match="^--device cuda: no CUDA GPU is available"):
        build_tracker(name, checkpoint=tmp_path / "missing.pt", device="cuda")
    with pytest.raises(GazevosError, match="is not a device"):
        build_tracker(name, device="gpu")


def _save_as_if_on_cuda(monkeypatch: pytest.MonkeyPatch, save: Callable[[], None]) -> None:
    """Run ``save`` with every tensor storage tagged ``cuda:0`` in the file (what a GPU
    run writes: reading it back without ``map_location`` fails on a CPU-only machine)."""
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        save()


@pytest.mark.parametrize("name", ["mast", "ranet"])
def test_a_tracker_state_saved_on_a_gpu_goes_on_on_the_cpu(
        checkpoints: dict[str, Path], name: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    frames, labels = _video()
    whole = _run(_build(checkpoints, name), frames, labels[0])
    trk = _build(checkpoints, name)
    head = _run(trk, frames, labels[0], stop=2)
    trk.device, trk.amp = torch.device("cuda", 0), True  # type: ignore[attr-defined]
    state = tmp_path / "state.pt"
    _save_as_if_on_cuda(monkeypatch, lambda: save_state(state, trk, 2, 1.0, key="k"))
    with pytest.raises(RuntimeError, match="CUDA"):  # it is a GPU file
        torch.load(state, weights_only=False)
    loaded = load_state(state, key="k")
    assert loaded is not None
    resumed = loaded["tracker"]
    assert resumed.device == CPU and resumed.amp is False
    assert _same(head + _run(resumed, frames, labels[0], start=2), whole)


def test_a_classic_state_with_gpu_learned_features_goes_on_on_the_cpu(
        checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    frames, labels = _video()
    trk = build_tracker("classic", checkpoint=checkpoints["mast"], learned_features="mast",
                        learned_dims=2)
    _run(trk, frames, labels[0], stop=1)
    trk.extractor.device = torch.device("cuda", 0)  # type: ignore[attr-defined]
    state = tmp_path / "state.pt"
    _save_as_if_on_cuda(monkeypatch, lambda: save_state(state, trk, 1, 1.0))
    loaded = load_state(state)
    assert loaded is not None and loaded["tracker"].extractor.device == CPU
    assert loaded["tracker"].step(frames[1]).probs.shape == (3, 64, 96)


@pytest.mark.parametrize("name", ["mast", "ranet"])
def test_a_model_checkpoint_saved_on_a_gpu_loads_on_the_cpu(
        checkpoints: dict[str, Path], name: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = torch.load(checkpoints[name], weights_only=True)
    path = tmp_path / f"{name}-gpu.pt"
    _save_as_if_on_cuda(monkeypatch, lambda: torch.save(data, path))
    frames, labels = _video()
    a = _run(_build({name: path}, name, device="cpu"), frames, labels[0], stop=2)
    assert _same(_run(_build(checkpoints, name), frames, labels[0], stop=2), a)


@contextlib.contextmanager
def cpu_autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bfloat16 autocast on the CPU: a stand-in for CUDA's float16 (the same mix of
    reduced-precision and float32 tensors reaches the code)."""
    if enabled:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield


@pytest.mark.parametrize(("name", "extra"), [
    ("mast", {"topk": 4}), ("mast", {"hard_memory": True}),
    ("ranet", {"discriminant": True, "nms": True, "memory_every": 2, "flip_test": True}),
    ("classic", {"learned_features": "mast", "learned_dims": 2})])
def test_the_amp_code_paths_run_in_reduced_precision(
        checkpoints: dict[str, Path], name: str, extra: dict[str, object],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What runs under autocast on a GPU, run under CPU autocast (no GPU here): no dtype
    clash, float32 probabilities out."""
    for module in (gazevos.track.mast, gazevos.track.ranet, gazevos.track.classic.learned):
        monkeypatch.setattr(module, "autocast", cpu_autocast)
    if name == "classic":
        trk = build_tracker("classic", checkpoint=checkpoints["mast"], **extra)
        holder = trk.extractor  # type: ignore[attr-defined]
    else:
        trk = holder = _build(checkpoints, name, **extra)
    holder.amp = True
    seen: list[torch.dtype] = []
    for m in holder.model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    frames, labels = _video()
    for probs in _run(trk, frames, labels[0]):
        assert probs.dtype == np.float32 and np.isfinite(probs).all()
        np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-4)
    assert torch.bfloat16 in seen  # the model did run in reduced precision
