"""Fuzz tests: print how many cases each test generated at the end of the session."""

from __future__ import annotations

import pytest
from _fuzz import CASES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per fuzz test: the number of generated cases it ran."""
    if not CASES:
        return
    terminalreporter.section("fuzz: generated cases")
    for name, n in sorted(CASES.items()):
        terminalreporter.write_line(f"{n:7d}  {name}")
    terminalreporter.write_line(f"{sum(CASES.values()):7d}  total")
