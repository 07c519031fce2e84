"""Tracker names, builders and the default tracker."""

from __future__ import annotations

import importlib
import inspect
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
    "fusion": "gazevos.track.fusion:FusionTracker",
}

#: The default tracker of ``annotate`` and ``propagate``: the best tracker on the
#: BENCHMARKS.md leaderboard that runs at >= 10 frames/s at 480p on 2 cores.
DEFAULT_TRACKER = "classic"


def tracker_class(name: str) -> type[Tracker]:
    """The tracker class registered as ``name`` (its module imported now).

    Raises:
        GazevosError: an unknown name.
    """
    if name not in TRACKERS:
        raise GazevosError(f"unknown tracker '{name}' (choose from {', '.join(TRACKERS)})")
    module_name, cls_name = TRACKERS[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def move_extractor(tracker: Any, device: Any, amp: bool | None) -> None:
    """Move a tracker's learned feature extractor (``classic``'s, whose builder takes no
    device) to ``device`` (a ``torch.device``); nothing for the CPU or without one."""
    move = getattr(getattr(tracker, "extractor", None), "to", None)
    if callable(move) and device.type != "cpu":
        move(device, amp)


def build_tracker(name: str = DEFAULT_TRACKER, checkpoint: str | Path | None = None,
                  config: str | Path | None = None, device: Any = None,
                  amp: bool | None = None, **overrides: Any) -> Tracker:
    """Build a tracker by name.

    Args:
        name: a key of :data:`TRACKERS`.
        checkpoint: weights for learned trackers (ignored by training-free ones).
        config: a YAML preset (path or shipped preset name) for the tracker's config.
        device: where a learned tracker's model runs: ``auto``, ``cpu``, ``cuda[:N]`` or a
            ``torch.device`` (None: the CPU; :func:`gazevos.devices.resolve_device`).
            Trackers without a model ignore it; ``classic`` uses it for its learned
            features (``learned_features: mast``).
        amp: float16 autocast on CUDA (None: on there; ignored on the CPU).
        overrides: config fields that win over the preset.

    Also makes the process keep freed memory for reuse
    (:func:`gazevos.runtime.keep_freed_memory`): large per-frame tensors then cost no page
    faults.
    """
    cls = tracker_class(name)
    keep_freed_memory()
    if device is None and amp is None:  # as before devices existed
        return cls.from_options(checkpoint=checkpoint, config=config, **overrides)
    from gazevos.devices import resolve_device

    dev = resolve_device(device)  # a bad name or a missing GPU fails before any loading
    if "device" in inspect.signature(cls.from_options).parameters:
        return cls.from_options(checkpoint=checkpoint, config=config, device=dev, amp=amp,
                                **overrides)
    tracker = cls.from_options(checkpoint=checkpoint, config=config, **overrides)
    move_extractor(tracker, dev, amp)  # a builder without a device (classic)
    return tracker
