"""The in-memory form every eye-tracking recording reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns of :attr:`Recording.gaze`, in this order.
GAZE_COLUMNS = ("time", "x", "y", "confidence")
#: Columns of :attr:`Recording.fixations` (the device's own fixations), in this order.
FIXATION_COLUMNS = ("fixation_id", "start", "end", "x", "y")


@dataclass(frozen=True)
class CameraIntrinsics:
    """Scene-camera intrinsics.

    Attributes:
        camera_matrix: ``(3, 3)`` float64 pinhole matrix K.
        dist_coeffs: distortion coefficients (OpenCV order; 4 for ``fisheye``, 5-14 for
            ``radial``).
        resolution: ``(width, height)`` in pixels the matrix refers to.
        model: ``"radial"`` (OpenCV standard model) or ``"fisheye"`` (OpenCV fisheye model).
    """

    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    resolution: tuple[int, int]
    model: str = "radial"


@dataclass
class Recording:
    """A head-camera eye-tracking recording, whatever device made it.

    Attributes:
        format: reader name (``pupil_core``, ``neon``, ``neon_native``, ``tobii_g3``,
            ``glassestools``, ``generic``; see :mod:`gazevos.io.recordings.detect`).
        root: the folder (or file) read.
        video_path: the scene video, or None when the export has none.
        frame_times: ``(F,)`` float64 scene-frame timestamps in seconds, on the same clock as
            ``gaze.time`` (ascending).
        resolution: scene video ``(width, height)`` in pixels.
        gaze: one row per gaze sample, columns :data:`GAZE_COLUMNS`: ``time`` (s, same clock
            as ``frame_times``), ``x``/``y`` in scene-video pixels with a top-left origin
            (NaN when the device gave no position), ``confidence`` in 0..1 (1.0 when the
            device gives none).  Rows are in time order; nothing is dropped here.
        intrinsics: scene-camera intrinsics, when the export has them.
        fixations: the device's own fixations (columns :data:`FIXATION_COLUMNS`, times in s,
            position in pixels), when the export has them.
        fov_deg: horizontal field of view to assume when there are no intrinsics.
        meta: anything else worth reporting (device name, export version, ...).
        notes: one-sentence remarks the user must see (parts of the recording that are
            missing or were skipped); ``gazevos annotate`` prints them and the report
            lists them.
    """

    format: str
    root: Path
    video_path: Path | None
    frame_times: np.ndarray
    resolution: tuple[int, int]
    gaze: pd.DataFrame
    intrinsics: CameraIntrinsics | None = None
    fixations: pd.DataFrame | None = None
    fov_deg: float | None = None
    meta: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
