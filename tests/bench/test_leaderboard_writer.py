"""bench/_leaderboard.py: rows and columns of BENCHMARKS.md's marker tables."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _leaderboard import update_column, update_table  # noqa: E402

DOC = """# B

text before

<!-- lb:start -->
| tracker | J&F | J | date |
| --- | --- | --- | --- |
| classic | 0.688 | 0.698 | d1 |
| copy | 0.214 | 0.227 | d1 |
<!-- lb:end -->

text after
"""


def _table(path: Path) -> list[str]:
    text = path.read_text()
    return text.split("<!-- lb:start -->\n")[1].split("<!-- lb:end -->")[0].splitlines()


def test_update_column_then_rewrite_row_keeps_it(tmp_path: Path) -> None:
    p = tmp_path / "B.md"
    p.write_text(DOC)
    missing = update_column("lb", "CV J&F", {"classic": "0.600", "ghost": "1"}, "J&F", path=p)
    assert missing == ["ghost"]
    assert _table(p) == ["| tracker | J&F | CV J&F | J | date |",
                         "| --- | --- | --- | --- | --- |",
                         "| classic | 0.688 | 0.600 | 0.698 | d1 |",
                         "| copy | 0.214 |  | 0.227 | d1 |"]
    # a bench that does not know the new column rewrites a row and adds one
    update_table("lb", ["tracker", "J&F", "J", "date"],
                 [["classic", "0.690", "0.700", "d2"], ["flow", "0.413", "0.417", "d2"]],
                 path=p, sort_key=lambda c: -float(c[1]))
    assert _table(p)[2:] == ["| classic | 0.690 | 0.600 | 0.700 | d2 |",
                             "| flow | 0.413 |  | 0.417 | d2 |",
                             "| copy | 0.214 |  | 0.227 | d1 |"]
    update_column("lb", "CV J&F", {"copy": "0.214"}, "J&F", path=p)
    assert _table(p)[4] == "| copy | 0.214 | 0.214 | 0.227 | d1 |"
    text = p.read_text()
    assert text.startswith("# B\n\ntext before\n") and text.endswith("\ntext after\n")


def test_update_table_creates_and_appends(tmp_path: Path) -> None:
    p = tmp_path / "B.md"
    p.write_text("# B\n")
    update_table("lb", ["k", "v"], [["a", "1"]], path=p, intro="Intro.")
    update_table("lb", ["k", "v"], [["b", "2"], ["a", "3"]], path=p)
    assert _table(p) == ["| k | v |", "| --- | --- |", "| a | 3 |", "| b | 2 |"]
    assert "Intro." in p.read_text()


def test_update_column_errors(tmp_path: Path) -> None:
    p = tmp_path / "B.md"
    p.write_text(DOC)
    with pytest.raises(ValueError, match="no table"):
        update_column("other", "X", {}, "J&F", path=p)
    with pytest.raises(ValueError, match="no column"):
        update_column("lb", "X", {}, "nope", path=p)
