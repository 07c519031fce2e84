"""Helper shared by the CLI tests."""

from __future__ import annotations

import pytest


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI's stderr, asserted to be exactly one ``gazevos: error: ...`` line."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("gazevos: error: ")
    return lines[0]
