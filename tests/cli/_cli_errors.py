"""Helpers shared by the CLI tests: a known bad input must end in one line
``gazevos: error: ...`` and exit code 2, never in the catch-all "internal error"."""

from __future__ import annotations

import pytest

#: what the CLI entry's catch-all prints: a known class of bad input must never reach it
INTERNAL = "internal error"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI's stderr, asserted to be exactly one ``gazevos: error: ...`` line that is not
    the catch-all's "internal error" (``gazevos: warning: ...`` lines may come before it)."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("gazevos: warning: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("gazevos: error: ")
    assert INTERNAL not in lines[0], f"a known bad input reached the catch-all: {lines[0]}"
    return lines[0]


def bad_input(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``gazevos ARGV`` on a known bad input; assert exit code 2 and one error line (see
    :func:`one_error_line`); return that line."""
    from gazevos.cli import main

    capsys.readouterr()  # forget what came before
    code = main(list(argv))
    line = one_error_line(capsys)
    assert code == 2, f"exit code {code}: {line}"
    return line


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``gazevos ARGV`` with a flag value click refuses; assert exit code 2 and one line
    ``gazevos: error: COMMAND: invalid value ...`` (never a traceback or "internal error");
    return that line."""
    from gazevos.cli import main

    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and INTERNAL not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gazevos: error: "), err
    return lines[0]
