"""Plain helpers of the studio tests (a module of its own: ``conftest`` is ambiguous when
the whole suite runs, since tests/conftest.py is imported under that name first)."""

from __future__ import annotations

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def box_of(spec: str) -> list[float]:
    """``[x0, y0, x1, y1]`` of a ``name:x0,y0,x1,y1@F`` box spec."""
    return [float(v) for v in spec.split(":", 1)[1].split("@")[0].split(",")]
