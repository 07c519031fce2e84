"""Scene-camera geometry: gaze pixels as viewing directions, and visual angles in pixels.

A head camera's image is not a flat screen at a known distance: a wide lens bends it, so one
degree of visual angle covers a different number of pixels at the centre and at the edge.
:class:`CameraGeometry` turns pixels into unit viewing rays and back, either through the
camera's calibrated intrinsics (OpenCV's standard "radial" model or its fisheye model) or,
when there are none, through an ideal pinhole camera with a stated horizontal field of view.

Pixel convention: ``(x, y)`` with a top-left origin, the image spanning ``[0, W] x [0, H]``
(the convention of :class:`gazevos.io.recordings.base.Recording`); the pinhole built from a
field of view has its principal point at ``(W / 2, H / 2)``.  Rays are in the camera frame
(x right, y down, z forward), shape ``(N, 3)``, unit length.

The *equivalent screen* (:func:`rays_to_screen_degrees`) is an azimuthal-equidistant
projection of the rays around the optical axis: a point ``theta`` degrees off the axis lands
``theta`` degrees from the origin, in the direction it lies in the image.  Distances from
the centre are exact visual angles; small separations elsewhere are exact along the radius and
stretched by ``theta / sin(theta)`` across it (1 % at 14 deg off-axis, 2 % at 20 deg, 11 % at
45 deg), so a fixation detector written for a flat screen can work in degrees on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.recordings.base import CameraIntrinsics, Recording

#: Horizontal field of view assumed when a recording has neither intrinsics nor a stated FoV.
DEFAULT_FOV_DEG = 90.0
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def _as_points(points: np.ndarray | list | tuple) -> np.ndarray:
    """``(N, 2)`` float64 copy of ``points`` (a single ``(2,)`` point becomes ``(1, 2)``)."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise GazevosError(f"expected points of shape (N, 2), got {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class CameraGeometry:
    """A scene camera: pixels <-> unit viewing rays.

    Attributes:
        resolution: ``(width, height)`` of the images the pixels refer to.
        camera_matrix: ``(3, 3)`` float64 K for that resolution.
        dist_coeffs: ``(k,)`` float64 distortion coefficients (empty for a pinhole).
        model: ``"pinhole"``, ``"radial"`` (OpenCV standard model) or ``"fisheye"``.
        source: how the geometry was obtained, for reports (e.g. ``"intrinsics (radial)"``).
    """

    resolution: tuple[int, int]
    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model: str = "pinhole"
    source: str = ""

    def __post_init__(self) -> None:
        if self.model not in ("pinhole", "radial", "fisheye"):
            raise GazevosError(f"unknown camera model '{self.model}' "
                               "(known: pinhole, radial, fisheye)")
        if self.model == "fisheye" and np.asarray(self.dist_coeffs).size != 4:
            raise GazevosError("the fisheye model needs exactly 4 distortion coefficients, got "
                               f"{np.asarray(self.dist_coeffs).size}")

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_fov(cls, resolution: tuple[int, int], fov_deg: float) -> CameraGeometry:
        """An ideal pinhole with horizontal field of view ``fov_deg`` and square pixels."""
        if not 0.0 < float(fov_deg) < 180.0:
            raise GazevosError(f"horizontal field of view must be in (0, 180) degrees, "
                               f"got {fov_deg}")
        w, h = int(resolution[0]), int(resolution[1])
        f = (w / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
        k = np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])
        return cls((w, h), k, np.zeros(0), "pinhole", f"pinhole, {float(fov_deg):g} deg "
                   "horizontal field of view")

    @classmethod
    def from_intrinsics(cls, intrinsics: CameraIntrinsics,
                        resolution: tuple[int, int] | None = None) -> CameraGeometry:
        """From calibrated intrinsics, rescaled when the video size differs from theirs."""
        k = np.array(intrinsics.camera_matrix, dtype=np.float64).reshape(3, 3)
        d = np.array(intrinsics.dist_coeffs, dtype=np.float64).ravel()
        iw, ih = (int(v) for v in intrinsics.resolution)
        w, h = (iw, ih) if resolution is None else (int(resolution[0]), int(resolution[1]))
        if (w, h) != (iw, ih):
            if abs(w / iw - h / ih) > 1e-3:
                raise GazevosError(f"camera intrinsics are for {iw}x{ih} but the video is "
                                   f"{w}x{h} (different aspect ratio)")
            s = w / iw
            k = k.copy()
            k[:2, :] *= s
        model = "fisheye" if intrinsics.model == "fisheye" else "radial"
        return cls((w, h), k, d, model, f"intrinsics ({model})")

    @classmethod
    def from_recording(cls, recording: Recording,
                       default_fov_deg: float = DEFAULT_FOV_DEG) -> CameraGeometry:
        """The recording's intrinsics, else its stated field of view, else ``default_fov_deg``."""
        if recording.intrinsics is not None:
            return cls.from_intrinsics(recording.intrinsics, recording.resolution)
        fov = recording.fov_deg if recording.fov_deg else default_fov_deg
        return cls.from_fov(recording.resolution, fov)

    # ----------------------------------------------------------------- properties
    @property
    def principal_point(self) -> tuple[float, float]:
        """``(cx, cy)`` in pixels."""
        return float(self.camera_matrix[0, 2]), float(self.camera_matrix[1, 2])

    @property
    def focal_length(self) -> tuple[float, float]:
        """``(fx, fy)`` in pixels."""
        return float(self.camera_matrix[0, 0]), float(self.camera_matrix[1, 1])

    # ----------------------------------------------------------------- conversions
    def pixels_to_rays(self, points: np.ndarray) -> np.ndarray:
        """Unit viewing rays ``(N, 3)`` of pixel points ``(N, 2)``; NaN rows stay NaN."""
        pts = _as_points(points)
        rays = np.full((len(pts), 3), np.nan)
        ok = np.isfinite(pts).all(axis=1)
        if not ok.any():
            return rays
        src = pts[ok].reshape(-1, 1, 2)
        if self.model == "pinhole":
            fx, fy = self.focal_length
            cx, cy = self.principal_point
            norm = np.stack([(src[:, 0, 0] - cx) / fx, (src[:, 0, 1] - cy) / fy], axis=1)
        elif self.model == "radial":
            norm = cv2.undistortPoints(src, self.camera_matrix, self.dist_coeffs,
                                       criteria=_UNDISTORT_CRITERIA).reshape(-1, 2)
        else:
            norm = cv2.fisheye.undistortPoints(src, self.camera_matrix,
                                               self.dist_coeffs.reshape(4, 1),
                                               criteria=_UNDISTORT_CRITERIA).reshape(-1, 2)
        v = np.concatenate([norm, np.ones((len(norm), 1))], axis=1)
        rays[ok] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return rays

    def rays_to_pixels(self, rays: np.ndarray) -> np.ndarray:
        """Pixel points ``(N, 2)`` of rays ``(N, 3)``; rays at or behind the camera give NaN."""
        r = np.asarray(rays, dtype=np.float64).reshape(-1, 3)
        out = np.full((len(r), 2), np.nan)
        ok = np.isfinite(r).all(axis=1) & (r[:, 2] > 1e-9)
        if not ok.any():
            return out
        obj = r[ok] / r[ok, 2:3]
        if self.model == "pinhole":
            fx, fy = self.focal_length
            cx, cy = self.principal_point
            out[ok] = np.stack([obj[:, 0] * fx + cx, obj[:, 1] * fy + cy], axis=1)
            return out
        zero = np.zeros(3)
        if self.model == "radial":
            px, _ = cv2.projectPoints(obj.reshape(-1, 1, 3), zero, zero, self.camera_matrix,
                                      self.dist_coeffs)
        else:
            px, _ = cv2.fisheye.projectPoints(obj.reshape(-1, 1, 3), zero, zero,
                                              self.camera_matrix, self.dist_coeffs.reshape(4, 1))
        out[ok] = px.reshape(-1, 2)
        return out

    def degrees_to_pixels(self, points: np.ndarray, degrees: float,
                          n_directions: int = 8) -> np.ndarray:
        """Local pixel radius ``(N,)`` of a visual angle ``degrees`` around each point.

        The ray of each point is turned by ``degrees`` towards ``n_directions`` evenly spaced
        directions; the result is the mean pixel distance of the projected rays from the
        point's own projection.  For a pinhole at its principal point this is exactly
        ``f * tan(degrees)``; with a wide lens it shrinks towards the image edges.
        """
        pts = _as_points(points)
        rays = self.pixels_to_rays(pts)
        ok = np.isfinite(rays).all(axis=1)
        out = np.full(len(pts), np.nan)
        if not ok.any():
            return out
        r = rays[ok]
        # an orthonormal basis (u, v) perpendicular to each ray
        helper = np.where(np.abs(r[:, 1:2]) < 0.9, [[0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]])
        u = np.cross(r, helper)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        v = np.cross(r, u)
        a = np.radians(degrees)
        phis = np.linspace(0.0, 2 * np.pi, n_directions, endpoint=False)
        turned = [np.cos(a) * r + np.sin(a) * (np.cos(p) * u + np.sin(p) * v) for p in phis]
        base = self.rays_to_pixels(r)
        proj = self.rays_to_pixels(np.concatenate(turned, axis=0)).reshape(n_directions, -1, 2)
        dist = np.linalg.norm(proj - base[None], axis=2)
        out[ok] = np.nanmean(dist, axis=0)
        return out

    def angle_between_pixels(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Visual angle ``(N,)`` in degrees between pixel points ``a`` and ``b`` (``(N, 2)``)."""
        return angle_between(self.pixels_to_rays(a), self.pixels_to_rays(b))

    def pixels_to_screen_degrees(self, points: np.ndarray) -> np.ndarray:
        """Pixel points ``(N, 2)`` on the equivalent flat screen, ``(N, 2)`` degrees."""
        return rays_to_screen_degrees(self.pixels_to_rays(points))

    def screen_extent_degrees(self) -> tuple[float, float]:
        """Width and height in degrees of the image on the equivalent screen (edge midpoints)."""
        w, h = self.resolution
        cx, cy = self.principal_point
        edges = self.pixels_to_screen_degrees(np.array([[0.0, cy], [w, cy], [cx, 0.0],
                                                        [cx, h]]))
        return (float(edges[1, 0] - edges[0, 0]), float(edges[3, 1] - edges[2, 1]))


# --------------------------------------------------------------------- functions
def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle ``(N,)`` in degrees between rays ``a`` and ``b`` (``(N, 3)`` or ``(3,)``).

    Uses ``atan2(|a x b|, a . b)``, accurate for tiny and large angles alike.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 3)
    cross = np.linalg.norm(np.cross(a, b), axis=1)
    dot = np.sum(a * b, axis=1)
    return np.degrees(np.arctan2(cross, dot))


def rays_to_screen_degrees(rays: np.ndarray) -> np.ndarray:
    """Azimuthal-equidistant "screen" coordinates ``(N, 2)`` in degrees of rays ``(N, 3)``.

    A ray ``theta`` degrees off the optical axis maps to ``theta * (cos phi, sin phi)``, where
    ``phi`` is its direction in the image plane (x right, y down).
    """
    r = np.asarray(rays, dtype=np.float64).reshape(-1, 3)
    lateral = np.linalg.norm(r[:, :2], axis=1)
    theta = np.degrees(np.arctan2(lateral, r[:, 2]))
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(lateral > 0, theta / lateral, 0.0)
    return r[:, :2] * scale[:, None]


def as_geometry(camera: CameraGeometry | CameraIntrinsics | Recording | None = None,
                resolution: tuple[int, int] | None = None,
                fov_deg: float | None = None) -> CameraGeometry:
    """Whatever describes the camera, as a :class:`CameraGeometry`.

    Args:
        camera: a geometry (returned as is), intrinsics, a recording, or None.
        resolution: ``(width, height)``; needed with ``fov_deg`` and to rescale intrinsics.
        fov_deg: horizontal field of view of a pinhole, used when ``camera`` is None.
    """
    if isinstance(camera, CameraGeometry):
        return camera
    if isinstance(camera, Recording):
        return CameraGeometry.from_recording(camera)
    if isinstance(camera, CameraIntrinsics):
        return CameraGeometry.from_intrinsics(camera, resolution)
    if camera is not None:
        raise GazevosError(f"cannot build a camera geometry from {type(camera).__name__}")
    if fov_deg is None or resolution is None:
        raise GazevosError("no camera intrinsics: a resolution and a horizontal field of view "
                           "are needed")
    return CameraGeometry.from_fov(resolution, fov_deg)


def pixels_to_rays(points: np.ndarray, camera: CameraGeometry | CameraIntrinsics) -> np.ndarray:
    """Unit rays ``(N, 3)`` of pixel points ``(N, 2)``; see
    :meth:`CameraGeometry.pixels_to_rays`."""
    return as_geometry(camera).pixels_to_rays(points)


def rays_to_pixels(rays: np.ndarray, camera: CameraGeometry | CameraIntrinsics) -> np.ndarray:
    """Pixel points ``(N, 2)`` of rays ``(N, 3)`` (see :meth:`CameraGeometry.rays_to_pixels`)."""
    return as_geometry(camera).rays_to_pixels(rays)


def degrees_to_pixels(points: np.ndarray, degrees: float,
                      camera: CameraGeometry | CameraIntrinsics | None = None,
                      resolution: tuple[int, int] | None = None,
                      fov_deg: float | None = None) -> np.ndarray:
    """Local pixel radius ``(N,)`` of ``degrees`` of visual angle at each point ``(N, 2)``.

    The camera is a geometry or intrinsics, or (when None) a pinhole of ``fov_deg`` at
    ``resolution``.  See :meth:`CameraGeometry.degrees_to_pixels`.
    """
    return as_geometry(camera, resolution, fov_deg).degrees_to_pixels(points, degrees)
