"""Marker-delimited markdown tables in BENCHMARKS.md, updated row by row.

A table lives between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; each row is keyed by
its first cell.  :func:`update_table` replaces the rows whose key it is given, keeps the other
rows (e.g. written by other people for other trackers), and writes the file atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from gazevos.io.atomic import atomic_write

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def update_table(name: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                 path: Path = BENCHMARKS, intro: str = "",
                 sort_key: Callable[[list[str]], object] | None = None) -> None:
    """Insert or replace ``rows`` (keyed by their first cell) in the table ``name``.

    If the markers are missing they are appended at the end of the file (after ``intro``).
    Rows already there with other keys are kept; when their number of cells differs from
    ``header`` they are padded or cut.  ``sort_key`` orders all rows (default: as found,
    new keys at the end).
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start not in text or end not in text:
        text = text.rstrip("\n") + "\n\n" + (intro.rstrip("\n") + "\n\n" if intro else "") + \
            f"{start}\n{end}\n"
    before, rest = text.split(start, 1)
    body, after = rest.split(end, 1)
    existing: list[list[str]] = []
    for line in body.splitlines():
        if not line.strip().startswith("|"):
            continue
        cells = _cells(line)
        if cells == list(header) or all(set(c) <= set("-: ") for c in cells):
            continue
        existing.append((cells + [""] * len(header))[: len(header)])
    new = {r[0]: list(r) for r in rows}
    merged = [new.pop(r[0]) if r[0] in new else r for r in existing]
    merged += [r for r in (list(x) for x in rows) if r[0] in new]
    if sort_key is not None:
        merged.sort(key=sort_key)
    table = [_row(header), _row(["---"] * len(header)), *(_row(r) for r in merged)]
    out = before + start + "\n" + "\n".join(table) + "\n" + end + after
    with atomic_write(path) as tmp:
        tmp.write_text(out)
