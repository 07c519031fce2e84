"""Options shared by several commands."""

from __future__ import annotations

import click

from gazevos.track.registry import DEFAULT_TRACKER, TRACKERS

# a free string checked by build_tracker: an unknown name is a one-line GazevosError
tracker_option = click.option(
    "--tracker", default=DEFAULT_TRACKER, show_default=True,
    help=f"Tracker that propagates the masks ({', '.join(sorted(TRACKERS))}).")
checkpoint_option = click.option(
    "--checkpoint", type=click.Path(dir_okay=False), default=None,
    help="Model weights for learned trackers (default: the shipped model).")
config_option = click.option(
    "--config", "config", type=click.Path(dir_okay=False), default=None,
    help="YAML preset for the tracker's settings.")
force_option = click.option("--force", is_flag=True, help="Overwrite a non-empty output folder.")
