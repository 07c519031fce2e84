"""Gaze -> object mapping on hand-made label maps; per-fixation aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gazevos.gaze.geometry import CameraGeometry
from gazevos.gaze.mapping import (
    GazeObjectMapper,
    MappingConfig,
    MappingRun,
    aggregate_fixations,
    fixation_object,
    map_points,
)

GEOM = CameraGeometry.from_fov((200, 100), 90.0)  # f = 100 px: 1.5 deg = 2.62 px at centre


def labels() -> np.ndarray:
    lab = np.zeros((100, 200), dtype=np.uint8)
    lab[40:60, 40:60] = 1    # object 1: x 40..60, y 40..60
    lab[40:60, 140:160] = 2  # object 2: x 140..160
    lab[0:5, 0:5] = 255      # void
    return lab


def test_map_points_inside_near_none() -> None:
    lab = labels()
    x = np.array([50.2, 63.0, 70.0, 145.0, 2.0, 100.0])
    y = np.array([50.7, 50.5, 50.0, 39.0, 2.0, 50.0])
    obj, hit, dist = map_points(x, y, lab, tolerance_px=5.0)
    assert obj.tolist() == [1, 1, 0, 2, 0, 0]
    assert hit.tolist() == ["inside", "near", "none", "near", "none", "none"]
    # 63.0 is 3.5 px from the centre (59.5) of the last object column
    assert dist[1] == pytest.approx(3.5)
    assert dist[3] == pytest.approx(np.hypot(0.5, 1.5))  # pixel (row 40, col 145) centre
    assert dist[0] == 0.0 and np.isnan(dist[2])
    # a tighter tolerance turns "near" into "none"
    obj, hit, _ = map_points(x[:2], y[:2], lab, tolerance_px=3.0)
    assert obj.tolist() == [1, 0] and hit.tolist() == ["inside", "none"]


def test_nearest_of_two_objects_and_outside_image() -> None:
    lab = np.zeros((50, 50), dtype=np.int32)
    lab[20:30, 10:20] = 3
    lab[20:30, 26:36] = 4
    obj, hit, _ = map_points(np.array([22.4, 23.6, -1.0]), np.array([25.0, 25.0, 25.0]), lab,
                             tolerance_px=np.array([10.0, 10.0, 1.6]), void_label=None)
    assert obj.tolist() == [3, 4, 0]
    obj, _, _ = map_points(np.array([-1.0]), np.array([25.0]), lab[:, 10:], tolerance_px=2.0)
    assert obj.tolist() == [3]  # just left of the image, 1.5 px from an object pixel centre


def test_tolerance_in_degrees_through_geometry() -> None:
    m = GazeObjectMapper(GEOM, MappingConfig(tolerance_deg=1.5))
    tol = m.tolerance_px(np.array([100.0]), np.array([50.0]))
    assert tol[0] == pytest.approx(100 * np.tan(np.radians(1.5)))
    m5 = GazeObjectMapper(GEOM, MappingConfig(tolerance_deg=5.0))
    gaze = pd.DataFrame({"time": [0.0, 0.01], "x": [64.0, 64.0], "y": [50.0, 50.0],
                         "confidence": [1.0, 1.0]})
    assert m.map_frame(gaze, labels()).object_id.tolist() == [0, 0]   # 4.5 px > 2.6 px
    assert m5.map_frame(gaze, labels()).object_id.tolist() == [1, 1]  # 4.5 px < 8.7 px


def _gaze() -> pd.DataFrame:
    return pd.DataFrame({
        "time": np.arange(8) * 0.01,
        "x": [50.0, 51.0, 61.0, 150.0, 150.0, np.nan, 100.0, 50.0],
        "y": [50.0, 50.0, 50.0, 50.0, 50.0, np.nan, 50.0, 50.0],
        "confidence": [1.0] * 8,
        "frame": [0, 0, 0, 1, 1, 1, 2, -1],
        "flag": ["ok", "ok", "ok", "ok", "low_confidence", "missing", "ok", "before_video"],
    })


def test_map_gaze_frame_by_frame() -> None:
    calls = []

    def source(f: int) -> np.ndarray | None:
        calls.append(f)
        return None if f == 2 else labels()

    m = GazeObjectMapper(GEOM)
    out = m.map_gaze(_gaze(), source)
    assert calls == [0, 1, 2]
    assert out.object_id.tolist() == [1, 1, 1, 2, 0, 0, 0, 0]
    assert out.hit.tolist() == ["inside", "inside", "near", "inside", "invalid", "invalid",
                                "unmapped", "invalid"]
    assert len(out) == 8 and out.index.equals(_gaze().index)
    # streaming gives the same rows
    g = _gaze()
    parts = [m.map_frame(g[g.frame == f], labels() if f != 2 else None) for f in (0, 1, 2)]
    parts.append(m.map_frame(g[g.frame == -1], None))
    pd.testing.assert_frame_equal(pd.concat(parts).sort_index(), out)


def test_aggregate_fixations_majority() -> None:
    samples = pd.DataFrame({
        "time": np.arange(10) * 0.01,
        "object_id": [1, 1, 2, 1, 0, 0, 0, 2, 2, 0],
        "hit": ["inside", "near", "inside", "near", "none", "invalid", "invalid", "near",
                "near", "none"],
    })
    fx = pd.DataFrame({"fixation_id": [1, 2, 3, 4], "start": [0.0, 0.04, 0.065, 0.07],
                       "end": [0.035, 0.065, 0.065, 0.09]})
    out = aggregate_fixations(fx, samples)
    # fix 1: samples 0-3 -> object 1 (3 of 4), 1 of its 3 inside -> near
    assert out.object_id.tolist() == [1, 0, 0, 2]
    assert out.hit.tolist() == ["near", "none", "invalid", "near"]
    np.testing.assert_allclose(out.share.to_numpy()[[0, 1, 3]], [0.75, 1.0, 2 / 3])
    assert out.n_valid.tolist() == [4, 1, 0, 3]
    # samples mapped out of time order (e.g. frames streamed out of order) give the same
    shuffled = aggregate_fixations(fx, samples.iloc[[5, 9, 0, 3, 7, 1, 8, 2, 6, 4]])
    pd.testing.assert_frame_equal(shuffled, out)


def test_aggregate_tie_breaks() -> None:
    samples = pd.DataFrame({"time": [0.0, 0.01, 0.02, 0.03],
                            "object_id": [2, 3, 3, 2], "hit": ["inside", "near", "near",
                                                              "near"]})
    fx = pd.DataFrame({"fixation_id": [1], "start": [0.0], "end": [0.03]})
    out = aggregate_fixations(fx, samples)
    assert out.object_id.tolist() == [2]  # 2-2 tie: object 2 has an inside sample
    assert out.hit.tolist() == ["inside"]  # 1 of its 2 samples inside: at least half


def test_mapping_run_in_any_frame_order_equals_map_gaze() -> None:
    m = GazeObjectMapper(GEOM)
    ref = m.map_gaze(_gaze(), lambda f: None if f == 2 else labels())
    run = MappingRun(m, _gaze())
    assert run.frames.tolist() == [0, 1, 2]      # frame -1 and invalid-only frames: none
    assert run.hit.tolist()[:3] == ["invalid"] * 3 and run.hit[7] == "invalid"
    run.map(2, None)
    run.map(5, labels())                         # a frame without samples: nothing
    assert run.hit[6] == "unmapped"
    run.map(1, labels())
    assert run.object_id[3] == 2 and run.hit[0] == "invalid"   # frame 0 not mapped yet
    run.map(0, labels())
    pd.testing.assert_frame_equal(run.result(), ref)


def test_fixation_object_by_hand() -> None:
    ids = np.array([1, 1, 2, 0, 2])
    inside = np.array([True, False, True, False, True])
    # all usable: 1 and 2 have two samples each, 2 has more inside -> 2, both inside
    assert fixation_object(ids, inside, np.ones(5, bool)) == (2, "inside", 0.4, 5)
    # without the last sample: object 1 wins on count 2 vs 1, one of its two inside
    assert fixation_object(ids[:4], inside[:4], np.ones(4, bool)) == (1, "inside", 0.5, 4)
    # background majority
    assert fixation_object(np.array([0, 0, 1]), np.zeros(3, bool), np.ones(3, bool))[:2] \
        == (0, "none")
    obj, hit, share, n = fixation_object(ids, inside, np.zeros(5, bool))
    assert (obj, hit, n) == (0, "invalid", 0) and np.isnan(share)
