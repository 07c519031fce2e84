"""Shared click options (gazevos.cli.options)."""

from __future__ import annotations

from typing import Any

import click
from click.testing import CliRunner

from gazevos.cli.options import out_option, run_options, run_options_kwargs, stack
from gazevos.train.checkpointing import RunOptions


def _command(seen: dict[str, Any]) -> click.Command:
    @click.command()
    @out_option("Output folder.")
    @run_options
    def cmd(out_dir: str, **run: Any) -> None:
        seen["out_dir"] = out_dir
        seen["opts"] = RunOptions(**run_options_kwargs(run))

    return cmd


def test_run_options_become_run_options_kwargs() -> None:
    seen: dict[str, Any] = {}
    res = CliRunner().invoke(_command(seen), ["--out", "o", "--chunk-steps", "3",
                                              "--time-limit", "1.5", "--threads", "2",
                                              "--resume", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert seen["out_dir"] == "o"
    note = seen["opts"].note  # the CLI shows the library's notes as warning lines
    assert callable(note)
    assert seen["opts"] == RunOptions(resume=True, force=False, max_steps=3, time_limit=90.0,
                                      threads=2, progress=False, note=note)
    res = CliRunner().invoke(_command(seen), ["--out", "p", "--force"])
    assert seen["opts"] == RunOptions(force=True, note=note)  # no budget, progress shown
    res = CliRunner().invoke(_command(seen), [])
    assert res.exit_code == 2 and "Missing option '--out'" in res.output


def test_stack_keeps_the_given_order_in_help() -> None:
    @click.command()
    @stack(click.option("--zeta", is_flag=True), click.option("--alpha", is_flag=True))
    def cmd(zeta: bool, alpha: bool) -> None:
        pass

    text = CliRunner().invoke(cmd, ["--help"]).output
    assert text.index("--zeta") < text.index("--alpha")
