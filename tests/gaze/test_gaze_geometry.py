"""Camera geometry: pixel <-> ray round trips, visual angles in pixels."""

from __future__ import annotations

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.gaze.geometry import (
    CameraGeometry,
    angle_between,
    as_geometry,
    degrees_to_pixels,
    rays_to_screen_degrees,
)
from gazevos.io.recordings.base import CameraIntrinsics

# Pupil Core 1280x720 scene camera (the bleach-naruto sample's world.intrinsics)
PUPIL_K = np.array([[794.3311439869655, 0.0, 633.0104437728625],
                    [0.0, 793.5290139393004, 397.36927353414865], [0.0, 0.0, 1.0]])
PUPIL_D = np.array([-0.3758628065070806, 0.1643326166951343, 0.00012182540692089567,
                    0.00013422608638039466, 0.03343691733865076, 0.08235235770849726,
                    -0.08225804883227375, 0.14463365333602152])
RADIAL = CameraIntrinsics(PUPIL_K, PUPIL_D, (1280, 720), "radial")
FISHEYE = CameraIntrinsics(np.array([[600.0, 0, 640], [0, 600.0, 360], [0, 0, 1]]),
                           np.array([0.05, -0.01, 0.002, -0.0005]), (1280, 720), "fisheye")
GRID = np.array([[x, y] for x in np.linspace(0, 1280, 9) for y in np.linspace(0, 720, 7)])


@pytest.mark.parametrize("intr", [RADIAL, FISHEYE])
def test_pixel_ray_pixel_round_trip(intr: CameraIntrinsics) -> None:
    g = CameraGeometry.from_intrinsics(intr)
    rays = g.pixels_to_rays(GRID)
    np.testing.assert_allclose(np.linalg.norm(rays, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(g.rays_to_pixels(rays), GRID, atol=1e-6)


def test_principal_point_is_optical_axis() -> None:
    g = CameraGeometry.from_intrinsics(RADIAL)
    ray = g.pixels_to_rays(np.array(g.principal_point))[0]
    np.testing.assert_allclose(ray, [0.0, 0.0, 1.0], atol=1e-12)


def test_distortion_pulls_corners_outwards() -> None:
    # barrel distortion (k1 < 0): a corner pixel is farther off-axis than a pinhole says
    g = CameraGeometry.from_intrinsics(RADIAL)
    ray = g.pixels_to_rays(np.array([[0.0, 0.0]]))[0]
    pinhole = np.array([(0 - PUPIL_K[0, 2]) / PUPIL_K[0, 0], (0 - PUPIL_K[1, 2]) / PUPIL_K[1, 1],
                        1.0])
    pinhole /= np.linalg.norm(pinhole)
    assert angle_between(ray, [0, 0, 1])[0] > angle_between(pinhole, [0, 0, 1])[0] + 5.0


def test_degrees_to_pixels_at_centre_is_f_tan() -> None:
    g = CameraGeometry.from_fov((1280, 720), 90.0)
    f = 640.0  # (W/2) / tan(45 deg)
    np.testing.assert_allclose(g.focal_length, (f, f))
    for deg in (0.5, 1.5, 5.0):
        r = degrees_to_pixels(np.array([[640.0, 360.0]]), deg, g)
        np.testing.assert_allclose(r, f * np.tan(np.radians(deg)), rtol=1e-9)
    # with intrinsics, at the principal point: close to f tan (distortion is ~0 there)
    gr = CameraGeometry.from_intrinsics(RADIAL)
    r = gr.degrees_to_pixels(np.array([gr.principal_point]), 1.5)[0]
    assert r == pytest.approx(793.93 * np.tan(np.radians(1.5)), rel=2e-3)


def test_degrees_to_pixels_depends_on_point() -> None:
    # pinhole: a degree spans more pixels off-axis; barrel lens: fewer
    pin = CameraGeometry.from_fov((1280, 720), 90.0)
    rad = CameraGeometry.from_intrinsics(RADIAL)
    pts = np.array([[640.0, 360.0], [40.0, 360.0]])
    p = pin.degrees_to_pixels(pts, 1.5)
    r = rad.degrees_to_pixels(np.array([rad.principal_point, [40.0, 397.0]]), 1.5)
    assert p[1] > 1.5 * p[0]
    assert r[1] < 0.95 * r[0]


def test_degrees_to_pixels_is_consistent_with_angles() -> None:
    g = CameraGeometry.from_intrinsics(RADIAL)
    pt = np.array([[300.0, 200.0]])
    rad = g.degrees_to_pixels(pt, 2.0)[0]
    # a point rad pixels away (direction-averaged) is about 2 deg away
    ang = [g.angle_between_pixels(pt, pt + rad * np.array([[np.cos(a), np.sin(a)]]))[0]
           for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
    assert np.mean(ang) == pytest.approx(2.0, rel=0.05)


def test_resolution_rescales_intrinsics() -> None:
    g = CameraGeometry.from_intrinsics(RADIAL, (640, 360))
    np.testing.assert_allclose(g.camera_matrix[:2], PUPIL_K[:2] / 2)
    full = CameraGeometry.from_intrinsics(RADIAL)
    np.testing.assert_allclose(g.pixels_to_rays(GRID / 2), full.pixels_to_rays(GRID), atol=1e-9)
    with pytest.raises(GazevosError, match="aspect"):
        CameraGeometry.from_intrinsics(RADIAL, (640, 480))


def test_screen_degrees_are_angles_from_axis() -> None:
    rays = np.array([[0.0, 0.0, 1.0], [np.sin(0.3), 0.0, np.cos(0.3)],
                     [0.0, -np.sin(0.2), np.cos(0.2)]])
    np.testing.assert_allclose(rays_to_screen_degrees(rays),
                               [[0, 0], [np.degrees(0.3), 0], [0, -np.degrees(0.2)]], atol=1e-12)
    g = CameraGeometry.from_fov((1280, 720), 90.0)
    w, _ = g.screen_extent_degrees()
    assert w == pytest.approx(90.0)


def test_nan_points_and_bad_input() -> None:
    g = CameraGeometry.from_fov((640, 480), 60.0)
    rays = g.pixels_to_rays(np.array([[np.nan, 1.0], [320.0, 240.0]]))
    assert np.isnan(rays[0]).all() and np.isfinite(rays[1]).all()
    assert np.isnan(g.rays_to_pixels(np.array([[0.0, 0.0, -1.0]]))).all()
    with pytest.raises(GazevosError):
        CameraGeometry.from_fov((640, 480), 200.0)
    with pytest.raises(GazevosError):
        as_geometry(None, (640, 480), None)
    with pytest.raises(GazevosError):
        g.pixels_to_rays(np.zeros((3, 3)))
