"""Calibration correction recovers known synthetic transforms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gazevos.gaze.correction import Correction, CorrectionConfig, compare_mappings, fit_correction
from gazevos.gaze.geometry import CameraGeometry

GEOM = CameraGeometry.from_fov((1280, 720), 90.0)  # f = 640 px; 1 deg ~ 11 px at the centre
BOXES = {1: (100, 200, 200, 400), 2: (400, 500, 800, 1000), 3: (500, 650, 200, 300)}


def label_map() -> np.ndarray:
    lab = np.zeros((720, 1280), dtype=np.uint8)
    for oid, (r0, r1, c0, c1) in BOXES.items():
        lab[r0:r1, c0:c1] = oid
    return lab


def true_points() -> np.ndarray:
    """Fixations spread symmetrically around each object's centroid (pixel-centre convention)."""
    pts = []
    for r0, r1, c0, c1 in BOXES.values():
        cx, cy = (c0 + c1) / 2, (r0 + r1) / 2
        for ox, oy in [(-30, -10), (30, 10), (-30, 10), (30, -10), (0, 0)]:
            pts.append((cx + ox, cy + oy))
    return np.array(pts)


def observed(corr_true: tuple[float, float, float, float]) -> pd.DataFrame:
    """Gaze that the true correction maps back onto the objects."""
    dx, dy, sx, sy = corr_true
    c = np.array(GEOM.principal_point)
    obs = (true_points() - c - [dx, dy]) / [sx, sy] + c
    n = len(obs)
    return pd.DataFrame({"x": obs[:, 0], "y": obs[:, 1], "duration": np.full(n, 0.25),
                         "start_frame": np.arange(n) % 3, "end_frame": np.arange(n) % 3})


@pytest.mark.parametrize("model,true", [
    ("offset", (45.0, -30.0, 1.0, 1.0)),
    ("offset_scale", (20.0, 10.0, 1.15, 1.15)),
    ("offset_scale_xy", (-15.0, 25.0, 0.85, 1.2)),
])
def test_recovers_known_transform(model: str, true: tuple) -> None:
    fx = observed(true)
    calls: list[int] = []

    def maps(f: int) -> np.ndarray:
        calls.append(f)
        return label_map()

    c = fit_correction(fx, maps, GEOM, CorrectionConfig(model=model))
    assert sorted(calls) == [0, 1, 2]  # one call per distinct frame
    np.testing.assert_allclose([c.dx, c.dy, c.sx, c.sy], true, atol=0.05)
    assert c.model == model and c.n_used == len(fx)
    # applying it puts the fixations back where they were
    x, y = c.apply(fx.x.to_numpy(), fx.y.to_numpy())
    np.testing.assert_allclose(np.stack([x, y], 1), true_points(), atol=0.05)
    assert c.mean_dist_after_px == pytest.approx(0.0)
    if model == "offset":
        assert c.mean_dist_before_px > 0 and c.mean_dist_before_deg > 0
        # 45 px at f = 640: atan(45 / 640) = 4.02 deg, to the right; 30 px up
        assert c.dx_deg == pytest.approx(np.degrees(np.arctan(45 / 640)), abs=0.01)
        assert c.dy_deg == pytest.approx(-np.degrees(np.arctan(30 / 640)), abs=0.01)


def test_robust_to_a_stray_fixation() -> None:
    fx = observed((40.0, 20.0, 1.0, 1.0))
    stray = pd.DataFrame({"x": [700.0], "y": [300.0], "duration": [0.25], "start_frame": [0],
                          "end_frame": [0]})
    c = fit_correction(pd.concat([fx, stray], ignore_index=True), lambda f: label_map(), GEOM)
    assert c.dx == pytest.approx(40.0, abs=3.0) and c.dy == pytest.approx(20.0, abs=3.0)


def test_single_object_falls_back_to_offset() -> None:
    fx = observed((10.0, 5.0, 1.0, 1.0)).iloc[:5]  # object 1 only
    c = fit_correction(fx, lambda f: label_map(), GEOM, CorrectionConfig(model="offset_scale"))
    assert c.model == "offset" and "scale not identifiable" in c.note
    assert (c.sx, c.sy) == (1.0, 1.0)
    np.testing.assert_allclose([c.dx, c.dy], [10.0, 5.0], atol=0.05)


def test_no_objects_nearby_gives_identity() -> None:
    fx = observed((0.0, 0.0, 1.0, 1.0))
    c = fit_correction(fx, lambda f: np.zeros((720, 1280), np.uint8), GEOM)
    assert c.is_identity and "no correction" in c.note
    x, y = c.apply(np.array([1.0]), np.array([2.0]))
    assert (x[0], y[0]) == (1.0, 2.0)


def test_apply_gaze_keeps_raw_and_compare_mappings() -> None:
    c = Correction(dx=2.0, dy=-1.0, sx=2.0, sy=1.0, cx=10.0, cy=10.0)
    g = pd.DataFrame({"x": [10.0, 12.0], "y": [10.0, 10.0]})
    out = c.apply_gaze(g)
    assert out.x.tolist() == [12.0, 16.0] and out.y.tolist() == [9.0, 9.0]
    assert out.x_raw.tolist() == [10.0, 12.0]
    before = pd.DataFrame({"object_id": [0, 1, 1, 2, 0], "hit": ["none", "inside", "near",
                                                                "inside", "invalid"]})
    after = pd.DataFrame({"object_id": [1, 1, 2, 2, 0], "hit": ["near", "inside", "inside",
                                                               "inside", "invalid"]})
    moved = compare_mappings(before, after)
    assert moved.to_dict("records") == [{"from_object": 0, "to_object": 1, "n_samples": 1},
                                        {"from_object": 1, "to_object": 2, "n_samples": 1}]
