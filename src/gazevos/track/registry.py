"""Tracker names, builders and the default tracker."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from gazevos.errors import GazevosError
from gazevos.runtime import keep_freed_memory
from gazevos.track.base import Tracker

#: name -> "module:Class"; imported lazily so that building one tracker loads only its code.
TRACKERS: dict[str, str] = {
    "copy": "gazevos.track.baselines:CopyTracker",
    "flow": "gazevos.track.baselines:FlowTracker",
    "classic": "gazevos.track.classic:ClassicTracker",
    "mast": "gazevos.track.mast:MastTracker",
    "ranet": "gazevos.track.ranet:RanetTracker",
}

#: The default tracker of ``annotate`` and ``propagate``: the best tracker on the
#: BENCHMARKS.md leaderboard that runs at >= 10 frames/s at 480p on 2 cores.
DEFAULT_TRACKER = "classic"


def build_tracker(name: str = DEFAULT_TRACKER, checkpoint: str | Path | None = None,
                  config: str | Path | None = None, **overrides: Any) -> Tracker:
    """Build a tracker by name.

    Args:
        name: a key of :data:`TRACKERS`.
        checkpoint: weights for learned trackers (ignored by training-free ones).
        config: a YAML preset (path or shipped preset name) for the tracker's config.
        overrides: config fields that win over the preset.

    Also makes the process keep freed memory for reuse
    (:func:`gazevos.runtime.keep_freed_memory`): large per-frame tensors then cost no page
    faults.
    """
    if name not in TRACKERS:
        raise GazevosError(f"unknown tracker '{name}' (choose from {', '.join(TRACKERS)})")
    keep_freed_memory()
    module_name, cls_name = TRACKERS[name].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls.from_options(checkpoint=checkpoint, config=config, **overrides)
