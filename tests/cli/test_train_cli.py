"""Training under the output contract: staged runs, commit when finished, save on
interrupt, exact resume, --force, refused settings and numeric options."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _presets import tiny_mast_yaml
from gazevos.cli import main
from gazevos.io.rundir import read_manifest, staging_path
from gazevos.models.mast.model import read_checkpoint
from gazevos.train import mast as mast_train
from gazevos.train.staging import find_run

TINY_YAML = tiny_mast_yaml(steps=6)


def _write_video(folder: Path, n: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)
    for i in range(n):
        f = bg.copy()
        f[8:18, 4 + i:14 + i] = (220, 20, 20)
        Image.fromarray(f).save(folder / f"{i:05d}.png")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Frames, the tiny preset and one uninterrupted 6-step run to compare with."""
    base = tmp_path_factory.mktemp("train_cli")
    _write_video(base / "davis" / "JPEGImages" / "480p" / "a", 12, 1)
    _write_video(base / "davis" / "JPEGImages" / "480p" / "b", 10, 2)
    _write_video(base / "other", 10, 3)
    (base / "tiny.yaml").write_text(TINY_YAML)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(_args(base, base / "reference")) == 0
    finally:
        torch.set_num_threads(n)
    return {"base": base, "reference": base / "reference"}


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _args(base: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "mast", "--frames", str(base / "davis"), "--out", str(out), "--config",
            str(base / "tiny.yaml"), "--no-progress", "--threads", "1", *extra]


def _same_weights(a: Path, b: Path) -> bool:
    sa, sb = read_checkpoint(a)["state_dict"], read_checkpoint(b)["state_dict"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _log_steps(folder: Path) -> list[int]:
    return [int(r.split(",")[0]) for r in (folder / "log.csv").read_text().splitlines()[1:]]


def test_interrupt_before_first_checkpoint_saves_and_resume_matches(
        setup: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    calls = []
    real = mast_train.clip_batch

    def interrupting(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        batch = real(*a, **kw)  # draws from the generator, then Ctrl-C
        if len(calls) == 4:
            raise KeyboardInterrupt
        return batch

    monkeypatch.setattr(mast_train, "clip_batch", interrupting)
    assert main(_args(setup["base"], out)) == 130
    err = capsys.readouterr().err
    assert "step 3 of 6" in err and "--resume" in err and "Traceback" not in err
    stage = staging_path(out)
    assert not out.exists()  # save_every 100: only the interrupt saved anything
    assert read_checkpoint(stage / "last.pt")["step"] == 3
    assert read_manifest(stage, complete_only=False)["complete"] is False
    monkeypatch.setattr(mast_train, "clip_batch", real)
    assert main(_args(setup["base"], out, "--resume")) == 0
    assert not stage.exists() and read_manifest(out)["complete"] is True
    assert read_checkpoint(out / "last.pt")["step"] == 6
    assert _log_steps(out) == [1, 2, 3, 4, 5, 6]
    assert _same_weights(out / "model.pt", setup["reference"] / "model.pt")
    assert _same_weights(out / "last.pt", setup["reference"] / "last.pt")


@pytest.mark.usefixtures("default_signals")
def test_signal_during_an_update_is_held_until_the_step_is_counted(
        setup: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    real = torch.optim.Adam.step
    count = []

    def step_and_signal(self, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        count.append(1)
        if len(count) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the update
            time.sleep(0.05)
        return real(self, *a, **kw)

    monkeypatch.setattr(torch.optim.Adam, "step", step_and_signal)
    with pytest.raises(KeyboardInterrupt, match="stopped at step 2 of 6"):
        _run_library(setup["base"], out)
    monkeypatch.setattr(torch.optim.Adam, "step", real)
    stage = staging_path(out)
    assert read_checkpoint(stage / "last.pt")["step"] == 2  # the update was finished
    assert _log_steps(stage) == [1, 2]
    _run_library(setup["base"], out, resume=True)
    assert _same_weights(out / "last.pt", setup["reference"] / "last.pt")


@pytest.mark.usefixtures("default_signals")
def test_a_second_signal_during_an_update_stops_without_saving(
        setup: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    real = torch.optim.Adam.step
    count = []

    def step_and_signal_twice(self, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        count.append(1)
        if len(count) == 2:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)  # the impatient second Ctrl-C
            time.sleep(0.05)
        return real(self, *a, **kw)

    monkeypatch.setattr(torch.optim.Adam, "step", step_and_signal_twice)
    with pytest.raises(KeyboardInterrupt, match="second interrupt"):
        _run_library(setup["base"], out)
    monkeypatch.setattr(torch.optim.Adam, "step", real)
    assert len(count) == 2  # stopped inside the second update
    assert not (staging_path(out) / "last.pt").exists()  # a half-updated state is not saved
    _run_library(setup["base"], out, resume=True)
    assert _same_weights(out / "last.pt", setup["reference"] / "last.pt")


def _run_library(base: Path, out: Path, **opts: object) -> Path:
    from gazevos.config import load_config

    cfg = load_config(mast_train.MastTrainConfig, base / "tiny.yaml")
    return mast_train.train_mast([base / "davis"], out, cfg,
                                 mast_train.RunOptions(progress=False, **opts))


def test_interrupt_during_setup_then_resume_starts_at_step_0(
        setup: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"

    def interrupted(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(mast_train, "fit_colour_clusters", interrupted)
    assert main(_args(setup["base"], out)) == 130
    stage = staging_path(out)
    assert read_manifest(stage, complete_only=False) is not None
    assert not (stage / "last.pt").exists() and not out.exists()
    monkeypatch.undo()
    capsys.readouterr()
    assert main(_args(setup["base"], out, "--resume")) == 0
    err = capsys.readouterr().err
    assert "saved no last.pt yet: starting from step 0" in err
    assert _same_weights(out / "last.pt", setup["reference"] / "last.pt")


def test_chunks_commit_only_when_finished(setup: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    stage = staging_path(out)
    assert find_run(out) is None
    assert main(_args(setup["base"], out, "--chunk-steps", "2")) == 0
    assert "stopped at step 2 of 6" in capsys.readouterr().out
    assert find_run(out) == stage  # what a chunking script evaluates meanwhile
    for step in (4, 6):
        assert not out.exists() and read_checkpoint(stage / "last.pt")["step"] == step - 2
        assert main(_args(setup["base"], out, "--chunk-steps", "2", "--resume")) == 0
    assert find_run(out) == out
    assert capsys.readouterr().out.splitlines()[-1] == f"model: {out / 'model.pt'}"
    assert not stage.exists() and read_manifest(out)["extra"] == {"step": 6, "steps": 6}
    assert _log_steps(out) == [1, 2, 3, 4, 5, 6]
    assert _same_weights(out / "last.pt", setup["reference"] / "last.pt")
    # a finished run: --resume has nothing to do; a rerun needs --force
    assert main(_args(setup["base"], out, "--resume")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gazevos: error: ") and "nothing to resume" in err
    assert "\n" not in err and "--resume-from" in err
    assert main(_args(setup["base"], out)) == 2


def test_resume_with_other_settings_or_data_is_refused(
        setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    stage = staging_path(out)
    assert main(_args(setup["base"], out, "--chunk-steps", "2")) == 0
    capsys.readouterr()
    assert main(_args(setup["base"], out, "--resume", "--lr", "0.01")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "other config.learning_rate" in err and "at step 2" in err
    other = _args(setup["base"], out, "--resume")
    other[other.index("--frames") + 1] = str(setup["base"] / "other")
    assert main(other) == 2
    assert "other data" in capsys.readouterr().err
    assert read_checkpoint(stage / "last.pt")["step"] == 2  # the staged run is untouched
    # --steps is not part of the key: a staged run can be extended
    assert main(_args(setup["base"], out, "--resume", "--steps", "7")) == 0
    assert read_checkpoint(out / "last.pt")["step"] == 7


def test_resume_with_nothing_staged_starts_and_a_rerun_discards_with_a_warning(
        setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(_args(setup["base"], out, "--resume", "--chunk-steps", "1")) == 0
    assert "nothing to resume: starting from step 0" in capsys.readouterr().err
    assert main(_args(setup["base"], out)) == 0  # no --resume: starts over
    err = capsys.readouterr().err
    assert err.startswith("gazevos: warning: ") and "at step 1) was discarded" in err
    assert _same_weights(out / "last.pt", setup["reference"] / "last.pt")


def test_force_replaces_the_whole_run_when_the_new_one_finishes(
        setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(_args(setup["base"], out, "--steps", "2")) == 0
    (out / "stale.txt").write_text("from the earlier run")
    args = _args(setup["base"], out, "--force", "--loss", "regression")
    assert main([*args, "--chunk-steps", "1"]) == 0
    assert (out / "stale.txt").is_file()  # unfinished: the earlier run is still whole
    assert read_manifest(out)["key"]["config"]["loss"] == "classification"
    assert main([*args, "--resume"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "config.yaml", "last.pt", "log.csv", "manifest.json", "model.pt"]
    assert read_manifest(out)["key"]["config"]["loss"] == "regression"
    assert read_checkpoint(out / "last.pt")["step"] == 6
    assert not staging_path(out).exists()


def test_resume_of_an_old_style_training_folder_says_how(
        setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "old"
    out.mkdir()
    (out / "last.pt").write_bytes((setup["reference"] / "last.pt").read_bytes())
    assert main(_args(setup["base"], out, "--resume")) == 2
    err = capsys.readouterr().err.strip()
    assert "older gazevos" in err and f"--resume-from {out / 'last.pt'}" in err
    assert "\n" not in err and not staging_path(out).exists()


def test_bad_input_leaves_nothing(setup: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(_args(setup["base"], out, "--resume-from",
                      str(setup["reference"] / "model.pt"))) == 2
    assert "no optimiser state" in capsys.readouterr().err
    assert not out.exists() and not staging_path(out).exists()


_MAST = ["train", "mast", "--frames", "F"]
_RANET = ["train", "ranet", "--root", "R", "--sequences-file", "S"]
_SEMSEG = ["train", "semseg", "--data", "D"]
_ADAPT = ["adapt", "semseg", "--checkpoint", "C", "--source", "D", "--target", "T"]


@pytest.mark.parametrize(("command", "option", "values"), [
    (_MAST, "--steps", ["-5"]), (_MAST, "--steps", ["0"]), (_MAST, "--lr", ["nan"]),
    (_MAST, "--lr", ["-1"]), (_MAST, "--lr", ["inf"]), (_MAST, "--chunk-steps", ["-1"]),
    (_MAST, "--time-limit", ["nan"]), (_MAST, "--time-limit", ["-1"]),
    (_MAST, "--time-limit", ["inf"]), (_MAST, "--threads", ["-2"]),
    (_RANET, "--steps", ["-5"]), (_RANET, "--lr", ["nan"]),
    (_RANET, "--chunk-steps", ["-3"]), (_SEMSEG, "--steps", ["-1"]),
    (_SEMSEG, "--size", ["0", "0"]), (_SEMSEG, "--stride", ["0"]),
    (_SEMSEG, "--seed", ["-1"]), (_SEMSEG, "--lambda", ["nan"]), (_SEMSEG, "--lr", ["1e400"]),
    (_ADAPT, "--lr", ["-0.1"]), (_ADAPT, "--time-limit", ["-inf"]),
])
def test_numeric_options_are_refused(command: list[str], option: str, values: list[str],
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main([*command, "--out", str(out), option, *values]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and f"'{option}'" in last, err
    assert last.startswith("gazevos: error: ")
    assert not out.exists() and not staging_path(out).exists()


def test_too_many_threads_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    out = tmp_path / "out"
    assert main([*_MAST, "--out", str(out), "--threads", "100000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gazevos: error: --threads: 100000 threads") and "\n" not in err
    assert not out.exists() and not staging_path(out).exists()


@pytest.mark.parametrize(("line", "message"), [
    ("crop_size: -5", "setting 'crop_size' must be >= 8"),
    ("batch_size: 0", "setting 'batch_size' must be >= 1"),
    ("steps: -5", "setting 'steps' must be >= 1"),
    ("learning_rate: .nan", "setting 'learning_rate' must be a finite number"),
    ("channel_dropout: 2", "setting 'channel_dropout' must be >= 0 and <= 1"),
])
def test_bad_config_values_are_one_line_errors(line: str, message: str, setup: dict[str, Path],
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(TINY_YAML + line + "\n")
    out = tmp_path / "out"
    args = _args(setup["base"], out)
    args[args.index("--config") + 1] = str(cfg)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"gazevos: error: {cfg}: {message}, got {line.split(': ')[1]}" or (
        "\n" not in err and message in err), err
    assert not out.exists() and not staging_path(out).exists()


@pytest.mark.slow  # a fresh process imports torch: about 15 s on 2 busy cores
def test_sigterm_in_a_real_process_saves_the_step_it_reached(
        setup: dict[str, Path], tmp_path: Path) -> None:
    base, out = setup["base"], tmp_path / "run"
    cfg = tmp_path / "long.yaml"
    cfg.write_text(TINY_YAML.replace("steps: 6", "steps: 100000"))
    code = ("import signal, sys\n"
            "def stop(*_):\n    raise KeyboardInterrupt\n"
            "signal.signal(signal.SIGTERM, stop)\n"
            "from gazevos.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    args = _args(base, out)
    args[args.index("--config") + 1] = str(cfg)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = staging_path(out) / "log.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) > 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, 143), err
    assert "Traceback" not in err and "--resume" in err
    step = read_checkpoint(staging_path(out) / "last.pt")["step"]
    assert step >= 3 and _log_steps(staging_path(out)) == list(range(1, step + 1))
    assert not out.exists()
