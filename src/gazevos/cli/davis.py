"""``gazevos davis run`` and ``gazevos davis eval``: DAVIS-layout inference and evaluation."""

from __future__ import annotations

import click


@click.group()
def davis() -> None:
    """Run trackers on DAVIS sequences and score results with the official protocol."""
