"""Shared training plumbing (gazevos.train.checkpointing): atomic saves, resuming, the
per-invocation budget and log.csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from gazevos.errors import GazevosError
from gazevos.models.checkpoint import torch_load
from gazevos.train import checkpointing
from gazevos.train.checkpointing import RunOptions, optimise, save_atomic
from gazevos.train.staging import open_training_run


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, first: int) -> None:
    for step in range(first, first + steps):
        g = torch.Generator().manual_seed(step)
        x, y = torch.randn(8, 3, generator=g), torch.randn(8, 1, generator=g)
        optimise(opt, ((model(x) - y) ** 2).mean(), step)


def test_save_then_resume_restores_model_optimiser_and_step(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    _train(model, opt, 3, 0)
    run = open_training_run(tmp_path / "out", {"command": "t"}, force=False, resume=False)
    save_atomic(run.stage / "last.pt", {"state_dict": model.state_dict(),
                                        "optimizer": opt.state_dict(), "step": 3})
    _train(model, opt, 2, 3)  # the uninterrupted run goes on

    run = open_training_run(tmp_path / "out", {"command": "t"}, force=False, resume=True)
    state, path = run.resume_state(torch_load, None)
    assert path == run.stage / "last.pt" and state is not None and state["step"] == 3
    again = nn.Linear(3, 1)
    opt2 = torch.optim.Adam(again.parameters(), lr=0.1)
    again.load_state_dict(state["state_dict"])
    opt2.load_state_dict(state["optimizer"])
    assert int(opt2.state_dict()["state"][0]["step"]) == 3
    _train(again, opt2, 2, state["step"])
    # Adam's moments came back too: the resumed run ends where the uninterrupted one did
    torch.testing.assert_close(again.weight, model.weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(again.bias, model.bias, rtol=0, atol=1e-6)


def test_resume_errors_and_fresh_runs(tmp_path: Path) -> None:
    notes: list[str] = []
    run = open_training_run(tmp_path / "a", {"command": "t"}, force=False, resume=False,
                            note=notes.append)
    assert run.resume_state(torch_load, None) == (None, None) and notes == []
    run = open_training_run(tmp_path / "b", {"command": "t"}, force=False, resume=True,
                            note=notes.append)
    assert run.resume_state(torch_load, None) == (None, None)
    assert notes == [f"{tmp_path / 'b'}: nothing to resume: starting from step 0"]
    save_atomic(tmp_path / "model.pt", {"state_dict": {}})
    with pytest.raises(GazevosError, match=r"model.pt: not a training checkpoint \(no "
                                           r"optimiser state\); use --init$"):
        run.resume_state(torch_load, str(tmp_path / "model.pt"))
    with pytest.raises(GazevosError, match=r"\(no optimiser state\)$"):
        run.resume_state(torch_load, str(tmp_path / "model.pt"), hint="")


class Unpicklable:
    def __reduce__(self):  # noqa: ANN204
        raise RuntimeError("cannot pickle")


def test_atomic_save_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    with pytest.raises(RuntimeError, match="cannot pickle"):
        save_atomic(path, {"step": 1, "bad": Unpicklable()})
    assert list(tmp_path.iterdir()) == []  # no last.pt, no temporary file
    save_atomic(path, {"step": 1})
    with pytest.raises(RuntimeError):
        save_atomic(path, {"step": 2, "bad": Unpicklable()})
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert torch_load(path) == {"step": 1}  # the old checkpoint is intact


def test_optimise_refuses_a_non_finite_loss() -> None:
    w = nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([w], lr=0.5)
    optimise(opt, (w * 2).sum(), 0)
    assert float(w.detach()) == 0.0  # 1 - 0.5 * 2
    with pytest.raises(GazevosError, match="loss became nan at step 7; lower the learning"):
        optimise(opt, w * float("nan"), 7)
    assert float(w.detach()) == 0.0


@dataclass(frozen=True)
class Cfg:
    steps: int = 5
    sizes: tuple[int, ...] = (1, 2)


def test_session_budget_log_and_config(tmp_path: Path) -> None:
    opts = RunOptions(max_steps=2, progress=False)
    with checkpointing.session(tmp_path, Cfg(), opts, step=0, total=5, desc="t",
                               columns=("loss",), resumed=False) as run:
        step = 0
        while not run.out_of_budget(step):
            step += 1
            run.record(step, [f"{step / 10:.2f}"], loss="x")
    assert step == 2
    assert (tmp_path / "config.yaml").read_text() == "steps: 5\nsizes:\n- 1\n- 2\n"
    with checkpointing.session(tmp_path, Cfg(), opts, step=2, total=5, desc="t",
                               columns=("loss",), resumed=True) as run:
        assert not run.out_of_budget(3) and run.out_of_budget(4)
        run.record(3, ["0.30"])
    rows = [r.split(",") for r in (tmp_path / "log.csv").read_text().splitlines()]
    assert rows[0] == ["step", "loss", "seconds"]
    assert [r[:2] for r in rows[1:]] == [["1", "0.10"], ["2", "0.20"], ["3", "0.30"]]
    assert all(float(r[2]) >= 0 for r in rows[1:])
    # a fresh run starts a fresh log; other processes write nothing
    with checkpointing.session(tmp_path, Cfg(), opts, step=0, total=5, desc="t",
                               columns=("loss",), resumed=False):
        pass
    assert (tmp_path / "log.csv").read_text() == "step,loss,seconds\n"
    other = tmp_path / "rank1"
    other.mkdir()
    with checkpointing.session(other, Cfg(), opts, step=0, total=5, desc="t",
                               columns=("loss",), resumed=False, main=False) as run:
        run.record(1, ["0.1"])
    assert list(other.iterdir()) == []
    timed = RunOptions(time_limit=1e-9, progress=False)
    with checkpointing.session(other, Cfg(), timed, step=0, total=5, desc="t",
                               columns=(), resumed=False, main=False) as run:
        assert run.out_of_budget(0)
