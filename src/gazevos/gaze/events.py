"""The gaze work that does not need the masks, run beside the tracking pass.

Synchronising gaze to the scene frames and detecting fixations (I2MC by default: about
5 ms of CPU per gaze sample, so 0.25-1 s per second of 50-200 Hz gaze) depend on the gaze
alone.  :func:`start_gaze_events` runs them in a background thread while the tracker
works, so on a machine with two or more cores their cost mostly disappears from the wall
time of ``annotate``; only mapping the samples onto the masks waits for the masks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from gazevos.gaze.fixations import FixationConfig, detect_fixations, sample_fixation_ids
from gazevos.gaze.geometry import CameraGeometry
from gazevos.gaze.sync import SyncConfig, SyncResult, sync_gaze
from gazevos.io.pipeline import Background
from gazevos.io.recordings import Recording


@dataclass
class GazeEvents:
    """Synced samples and fixations of a recording (no object yet).

    Attributes:
        synced: the sync result (samples with scene frame indices, frame times, notes).
        samples: ``synced.samples`` with ``t`` (s from the first frame) and
            ``fixation_id`` columns.
        fixations: the detected fixations.
        t0: time of the first scene frame.
        seconds: wall time the work took.
    """

    synced: SyncResult
    samples: pd.DataFrame
    fixations: pd.DataFrame
    t0: float
    seconds: float = 0.0


def gaze_events(rec: Recording, geometry: CameraGeometry, method: str,
                min_confidence: float, min_usable_fraction: float) -> GazeEvents:
    """Sync the gaze to the scene video and detect fixations (``method``: see
    :func:`gazevos.gaze.fixations.detect_fixations`)."""
    t = time.perf_counter()
    synced = sync_gaze(rec, SyncConfig(min_confidence=min_confidence,
                                       min_usable_fraction=min_usable_fraction))
    samples = synced.samples
    t0 = float(synced.frame_times[0])
    samples.insert(1, "t", samples["time"] - t0)
    fixations = detect_fixations(samples, method, geometry,
                                 FixationConfig(method=method, min_confidence=min_confidence),
                                 device=rec.fixations)
    samples["fixation_id"] = sample_fixation_ids(samples, fixations)
    return GazeEvents(synced, samples, fixations, t0, time.perf_counter() - t)


def start_gaze_events(rec: Recording, geometry: CameraGeometry, method: str,
                      min_confidence: float, min_usable_fraction: float
                      ) -> Background[GazeEvents]:
    """Start :func:`gaze_events` in the background (``.result()`` waits for it)."""
    return Background(gaze_events, rec, geometry, method, min_confidence,
                      min_usable_fraction, name="gazevos-gaze")
