"""Synthetic gaze traces with known fixations, shared by the gaze tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gazevos.gaze.geometry import CameraGeometry

GEOMETRY = CameraGeometry.from_fov((1280, 720), 90.0)


def fixation_trace(targets_deg: list[tuple[float, float]], fix_s: float = 0.3,
                   sacc_s: float = 0.04, hz: float = 200.0, noise_deg: float = 0.05,
                   seed: int = 0, geometry: CameraGeometry = GEOMETRY,
                   lead_s: float = 0.0) -> tuple[pd.DataFrame, list[tuple[float, float]]]:
    """Gaze samples fixating each target (screen degrees) for ``fix_s``, with saccades.

    Saccades are smooth (cosine) ramps of ``sacc_s``; Gaussian noise of ``noise_deg``.
    Returns the gaze table (time, x, y, confidence) and the true (onset, offset) times.
    """
    rng = np.random.default_rng(seed)
    pts: list[np.ndarray] = []
    spans = []
    i = 0
    prev = np.asarray(targets_deg[0], float)
    for k, tgt in enumerate(targets_deg):
        tgt = np.asarray(tgt, float)
        if k > 0:
            n = int(round(sacc_s * hz))
            s = 0.5 - 0.5 * np.cos(np.pi * (np.arange(1, n + 1) / (n + 1)))
            pts.append(prev + s[:, None] * (tgt - prev))
            i += n
        n = int(round(fix_s * hz))
        pts.append(np.repeat(tgt[None], n, axis=0))
        spans.append((i, i + n - 1))
        i += n
        prev = tgt
    deg = np.concatenate(pts) + rng.normal(0, noise_deg, (i, 2))
    px = screen_deg_to_pixels(deg, geometry)
    times = lead_s + np.arange(i) / hz
    gaze = pd.DataFrame({"time": times, "x": px[:, 0], "y": px[:, 1],
                         "confidence": np.ones(i)})
    return gaze, [(float(times[a]), float(times[b])) for a, b in spans]


def screen_deg_to_pixels(deg: np.ndarray, geometry: CameraGeometry) -> np.ndarray:
    """Inverse of the equivalent-screen projection: degrees ``(N, 2)`` -> pixels ``(N, 2)``."""
    deg = np.asarray(deg, float)
    theta = np.radians(np.linalg.norm(deg, axis=1))
    phi = np.arctan2(deg[:, 1], deg[:, 0])
    rays = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi),
                     np.cos(theta)], axis=1)
    return geometry.rays_to_pixels(rays)
