"""Marker-delimited markdown tables in BENCHMARKS.md, updated row by row.

A table lives between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; each row is keyed by
its first cell.  :func:`update_table` replaces the rows whose key it is given, keeps the other
rows (e.g. written by other people for other trackers), and writes the file atomically.
Cells are matched by column name: a column that is in the file but not in the header a bench
writes (e.g. "CV J&F", filled by ``bench/cv_leaderboard.py``, when ``bench/davis_trackers.py``
rewrites a row) keeps its cells, and :func:`update_column` sets one column of given rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gazevos.io.atomic import atomic_write

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _split(path: Path, name: str, intro: str) -> tuple[str, str, str]:
    """``(text before the table, table body, text after)``; markers appended if missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start not in text or end not in text:
        text = text.rstrip("\n") + "\n\n" + (intro.rstrip("\n") + "\n\n" if intro else "") + \
            f"{start}\n{end}\n"
    before, rest = text.split(start, 1)
    body, after = rest.split(end, 1)
    return before + start + "\n", body, end + after


def _parse(body: str) -> tuple[list[str] | None, list[list[str]]]:
    """The table's header (``None`` when it has none) and its data rows."""
    lines = [_cells(line) for line in body.splitlines() if line.strip().startswith("|")]
    header = None
    if len(lines) >= 2 and all(set(c) <= set("-: ") and c for c in lines[1]):
        header, lines = lines[0], lines[2:]
    return header, [c for c in lines if not all(set(x) <= set("-: ") for x in c)]


def _merged_header(file_header: Sequence[str] | None, header: Sequence[str]) -> list[str]:
    """``header``, plus the file's columns it lacks, each after its left neighbour there."""
    out = list(header)
    if not file_header:
        return out
    for i, col in enumerate(file_header):
        if col in out:
            continue
        left = next((c for c in reversed(file_header[:i]) if c in out), None)
        out.insert(out.index(left) + 1 if left is not None else len(out), col)
    return out


def _write(path: Path, before: str, header: Sequence[str], rows: Sequence[Sequence[str]],
           after: str) -> None:
    table = [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]
    with atomic_write(path) as tmp:
        tmp.write_text(before + "\n".join(table) + "\n" + after)


def update_table(name: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                 path: Path = BENCHMARKS, intro: str = "",
                 sort_key: Callable[[list[str]], object] | None = None) -> None:
    """Insert or replace ``rows`` (keyed by their first cell) in the table ``name``.

    If the markers are missing they are appended at the end of the file (after ``intro``).
    Rows already there with other keys are kept.  Cells are matched by column name; columns
    of the file's table that ``header`` lacks are kept (after their left neighbour there),
    with their cells of replaced rows, empty for new rows; a table without a header row is
    read positionally (padded or cut).  ``sort_key`` orders all rows, given as lists in the
    written column order with the columns of ``header`` first up to the first kept one
    (default: as found, new keys at the end).
    """
    before, body, after = _split(path, name, intro)
    file_header, old_rows = _parse(body)
    cols = _merged_header(file_header, header)
    src_cols = file_header or list(header)
    existing = [dict(zip(src_cols, (r + [""] * len(src_cols))[: len(src_cols)], strict=True))
                for r in old_rows]
    new = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    merged: list[dict[str, str]] = []
    for old in existing:
        key = old.get(src_cols[0], "")
        merged.append({**old, **new.pop(key)} if key in new else old)
    merged += [new[r[0]] for r in rows if r[0] in new]
    out = [[d.get(c, "") for c in cols] for d in merged]
    if sort_key is not None:
        out.sort(key=sort_key)
    _write(path, before, cols, out, after)


def update_column(name: str, column: str, cells: Mapping[str, str], after_column: str,
                  path: Path = BENCHMARKS) -> list[str]:
    """Set ``column`` of the rows keyed ``cells``' keys in the existing table ``name``.

    The column is added right after ``after_column`` when the table lacks it (other rows
    get an empty cell).  Rows are kept in their order.  Returns the keys not found.

    Raises:
        ValueError: the table or its header is missing, or it lacks ``after_column``.
    """
    if not path.exists() or f"<!-- {name}:start -->" not in path.read_text():
        raise ValueError(f"no table '{name}' in {path}")
    before, body, after = _split(path, name, "")
    header, rows = _parse(body)
    if header is None:
        raise ValueError(f"table '{name}' has no header row")
    rows = [(r + [""] * len(header))[: len(header)] for r in rows]
    if column not in header:
        if after_column not in header:
            raise ValueError(f"table '{name}' has no column '{after_column}'")
        at = header.index(after_column) + 1
        header = [*header[:at], column, *header[at:]]
        rows = [[*r[:at], "", *r[at:]] for r in rows]
    i = header.index(column)
    for r in rows:
        if r[0] in cells:
            r[i] = cells[r[0]]
    _write(path, before, header, rows, after)
    return [k for k in cells if k not in {r[0] for r in rows}]
