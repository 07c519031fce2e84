"""The root of the command line (gazevos.cli.main): ``--threads``, signals, and OS and
memory errors as one line."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from _cli_errors import one_error_line

from gazevos.cli import cli, main
from gazevos.gaze.sync import GazeWarning
from gazevos.runtime import MAX_THREADS_PER_CORE, THREADS_ENV, available_cores

_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY",
        THREADS_ENV, "GAZEVOS_DEBUG")


def _env(**extra: str) -> dict[str, str]:
    """This environment without thread settings, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if k not in _ENV}, **extra}


# --- --threads ------------------------------------------------------------------------

SETTINGS = r"""
import json, sys
from gazevos.cli import main
from gazevos.runtime import thread_settings
rc = main(sys.argv[1:])
import cv2, torch
print(json.dumps({"rc": rc, "torch": torch.get_num_threads(), "cv2": cv2.getNumThreads(),
                  "settings": thread_settings().__dict__}))
"""


def _threads_of(args: list[str], **env: str) -> dict[str, object]:
    """Run ``gazevos ARGS`` in a new process; the thread counts in force afterwards."""
    out = subprocess.run([sys.executable, "-c", SETTINGS, *args], capture_output=True,
                         text=True, env=_env(**env), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_threads_option_sets_every_library_before_the_command_runs() -> None:
    got = _threads_of(["--threads", "1", "propagate", "--help"])
    s = got["settings"]
    assert (got["rc"], got["torch"], got["cv2"]) == (0, 1, 1)
    assert (s["torch_interop"], s["wait_policy"], s["wait_policy_applied"]) == (1, "PASSIVE", True)
    assert set(s["pools"].values()) == {1}


def test_default_is_the_available_cores_and_the_environment_variable_overrides_it() -> None:
    got = _threads_of(["propagate", "--help"])
    assert got["torch"] == got["cv2"] == available_cores()
    got = _threads_of(["propagate", "--help"], GAZEVOS_THREADS="1")
    assert got["torch"] == got["cv2"] == 1
    if available_cores() >= 2:  # the option wins over the variable
        got = _threads_of(["--threads", "2", "propagate", "--help"], GAZEVOS_THREADS="1")
        assert got["torch"] == got["cv2"] == 2


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "", "10000"])
def test_bad_threads_value_is_one_error_line_naming_the_option(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"--threads={value}", "propagate", "--help"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("gazevos: error: --threads: ")
    assert capsys.readouterr().out == ""  # the command did not run


def test_too_many_threads_names_the_limit(capsys: pytest.CaptureFixture[str]) -> None:
    most = MAX_THREADS_PER_CORE * available_cores()
    assert main(["--threads", str(most + 1), "propagate", "--help"]) == 2
    assert one_error_line(capsys).endswith(f"use at most {most}")


def test_bad_environment_value_is_one_error_line_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(THREADS_ENV, "0")
    assert main(["propagate", "--help"]) == 2
    assert one_error_line(capsys).startswith(f"gazevos: error: {THREADS_ENV}: ")


# --- signals --------------------------------------------------------------------------

SLEEPER = r"""
import pathlib, signal, sys, time
import click
from gazevos.cli import cli, main
from gazevos.gaze.sync import GazeWarning

# a foreground terminal's dispositions, also when the tests run under nohup or with &
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGHUP, signal.SIG_IGN if sys.argv[2] == "ignore-hup" else signal.SIG_DFL)

@cli.command("sleep")
def sleep() -> None:
    try:
        print("ready", flush=True)  # inside: a signal right after it still cleans up
        time.sleep(120)
    finally:  # the clean-up a long job does on Ctrl-C
        pathlib.Path(sys.argv[1]).write_text("cleaned up")

before = signal.getsignal(signal.SIGTERM)
rc = main(["sleep"])
print("handler restored" if signal.getsignal(signal.SIGTERM) is before else "not restored")
sys.exit(rc)
"""


def _start_sleeper(tmp_path: Path, mode: str = "") -> tuple[subprocess.Popen[str], Path]:
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER, str(marker), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc, marker


def _stderr_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [ln for ln in err.splitlines() if ln.strip()]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(("sig", "code"), [("SIGTERM", 143), ("SIGINT", 130),
                                            ("SIGHUP", 129)])
def test_signal_runs_the_clean_up_and_ends_with_one_line(sig: str, code: int,
                                                         tmp_path: Path) -> None:
    proc, marker = _start_sleeper(tmp_path)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert _stderr_lines(err) == [f"gazevos: interrupted ({sig})"]
    assert marker.read_text() == "cleaned up"
    assert out == "handler restored\n"


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP")
def test_an_ignored_hangup_stays_ignored(tmp_path: Path) -> None:
    proc, marker = _start_sleeper(tmp_path, "ignore-hup")  # as under nohup
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert proc.poll() is None and not marker.exists()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and _stderr_lines(err) == ["gazevos: interrupted (SIGTERM)"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_a_real_demo_run(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "gazevos.cli", "--threads", "1", "demo",
                             "--out", str(out_dir), "--no-video"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("writing a synthetic recording")
    time.sleep(1.0)  # into the sample's generation or the tracking
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    lines = [ln for ln in _stderr_lines(err.replace("\r", "\n"))
             if ln.startswith("gazevos:")]  # progress bars aside
    assert lines == ["gazevos: interrupted (SIGTERM)"], err  # demo cannot resume: no hint
    assert not out_dir.exists() and list(tmp_path.iterdir()) == []  # and it keeps nothing


def test_handlers_are_restored_after_an_in_process_run(
        capsys: pytest.CaptureFixture[str]) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    assert main(["--version"]) == 0
    assert "gazevos" in capsys.readouterr().out
    assert {s: signal.getsignal(s) for s in before} == before


# --- OS and memory errors, warnings ---------------------------------------------------


@pytest.fixture
def failing() -> Iterator[Callable[[BaseException], None]]:
    """Register a command ``fail`` that raises the exception given; removed afterwards."""
    raised: list[BaseException] = []

    @cli.command("fail")
    def fail() -> None:
        warnings.warn("few usable gaze samples", GazeWarning, stacklevel=1)
        raise raised[0]

    yield raised.append
    cli.commands.pop("fail")


def test_os_error_is_one_line_with_the_path(failing: Callable[[BaseException], None],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    failing(PermissionError(errno.EACCES, "Permission denied", "/data/out/report.html"))
    assert main(["fail"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == ("gazevos: error: /data/out/report.html: permission denied "
                                    "(EACCES)")
    assert "Traceback" not in err and "internal error" not in err


def test_memory_error_is_one_line(failing: Callable[[BaseException], None],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    failing(MemoryError("Unable to allocate 9.3 TiB for an array"))
    assert main(["fail"]) == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith("gazevos: error: not enough memory: unable to allocate 9.3 TiB")


def test_other_errors_still_reach_the_catch_all(failing: Callable[[BaseException], None],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    failing(ZeroDivisionError("boom"))
    assert main(["fail"]) == 1
    assert "internal error: ZeroDivisionError: boom" in capsys.readouterr().err


def test_library_warnings_are_one_line_on_stderr(failing: Callable[[BaseException], None],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    failing(MemoryError())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as a user's filters may be: main shows them anyway
        assert main(["fail"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "gazevos: warning: few usable gaze samples"
    assert len(lines) == 2 and lines[1].startswith("gazevos: error: not enough memory")


def test_debug_shows_the_os_error_itself(failing: Callable[[BaseException], None],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAZEVOS_DEBUG", "1")
    failing(FileNotFoundError(errno.ENOENT, "No such file", "x.csv"))
    with pytest.raises(FileNotFoundError):
        main(["fail"])


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(cli, click.Group)
    assert main(["no-such-command"]) == 2
    assert capsys.readouterr().err == ("gazevos: error: gazevos: no such command "
                                       "'no-such-command' (see 'gazevos --help')\n")
    assert main(["demo", "--seconds", "-5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gazevos: error: gazevos demo: invalid "
                                                   "value for '--seconds'")
    assert err.endswith("(see 'gazevos demo --help')\n")
