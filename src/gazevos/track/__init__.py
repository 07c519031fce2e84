"""The stateful per-video tracker API.

One :class:`Tracker` object per video hides the tracker's memory::

    tracker = build_tracker("classic")
    for i, frame in enumerate(frames):
        pred = tracker.step(frame.image, mask=first_mask if i == 0 else None)
        labels = pred.labels          # (H, W) object ids
"""

from gazevos.track.base import Prediction, Tracker, aggregate
from gazevos.track.registry import DEFAULT_TRACKER, TRACKERS, build_tracker

__all__ = ["DEFAULT_TRACKER", "TRACKERS", "Prediction", "Tracker", "aggregate", "build_tracker"]
