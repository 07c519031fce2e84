"""A fixed, seeded "head-camera" domain shift for measuring domain adaptation.

Frames of an ordinary video (e.g. DAVIS) are turned into frames that look as if taken by a
head-worn scene camera: wide-angle optics, head motion, cheap sensor, auto-exposure
lagging behind.  In this order:

1. **fisheye** (barrel) distortion: output pixel at normalised radius ``r`` (1 = half the
   image diagonal) samples the input at ``r * (1 + k r^2)``, so content is pulled towards
   the centre, the periphery more than the middle (a wider view with bent lines); corners
   that fall outside the input are black (and *ignore* in label maps);
2. **motion blur**: a line kernel of ``blur_fraction * width`` pixels at an angle drawn
   per frame;
3. **exposure**: intensities times ``exposure`` (under-exposure);
4. **colour cast**: per-channel RGB gains;
5. **sensor noise**: Gaussian, ``noise_sigma`` (in 0..255 units), drawn per frame.

Randomness (blur angle, noise) comes from ``numpy.random.default_rng((seed, key))``, so a
frame with the same ``key`` is always shifted the same way.  Geometry (step 1) is the
same for every frame and is applied to label maps with nearest-neighbour sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gazevos.models.semseg.classes import IGNORE_INDEX


@dataclass(frozen=True)
class HeadCamShift:
    """Parameters of the shift (defaults: the benchmark's documented setting).

    Attributes:
        fisheye: barrel coefficient k.
        blur_fraction: motion-blur length as a fraction of the image width.
        exposure: intensity gain (< 1: darker).
        colour_gains: RGB gains of the colour cast (default: blue-green cast).
        noise_sigma: standard deviation of the additive Gaussian noise (0..255 units).
        seed: seed of the per-frame draws.
    """

    fisheye: float = 0.35
    blur_fraction: float = 0.035
    exposure: float = 0.55
    colour_gains: tuple[float, float, float] = (0.80, 1.0, 1.25)
    noise_sigma: float = 7.0
    seed: int = 0

    def _maps(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        half_diag = np.hypot(cy, cx)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dy, dx = (yy - cy) / half_diag, (xx - cx) / half_diag
        factor = 1.0 + self.fisheye * (dx * dx + dy * dy)
        return ((dx * factor) * half_diag + cx).astype(np.float32), \
            ((dy * factor) * half_diag + cy).astype(np.float32)

    def image(self, image: np.ndarray, key: int) -> np.ndarray:
        """Shift one ``(H, W, 3)`` uint8 RGB frame; ``key`` picks the per-frame draws."""
        h, w = image.shape[:2]
        rng = np.random.default_rng((self.seed, int(key)))
        mx, my = self._maps(h, w)
        out = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=(0, 0, 0)).astype(np.float32)
        length = max(1, round(self.blur_fraction * w))
        if length > 1:
            kernel = np.zeros((length, length), dtype=np.float32)
            kernel[length // 2, :] = 1.0
            angle = float(rng.uniform(0.0, 180.0))
            rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
            kernel = cv2.warpAffine(kernel, rot, (length, length))
            kernel /= max(float(kernel.sum()), 1e-6)
            out = cv2.filter2D(out, -1, kernel, borderType=cv2.BORDER_REFLECT)
        out *= self.exposure * np.asarray(self.colour_gains, dtype=np.float32)
        out += rng.normal(0.0, self.noise_sigma, size=out.shape).astype(np.float32)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """Apply the geometry to an ``(H, W)`` uint8 label map (outside: ignore, 255)."""
        h, w = labels.shape
        mx, my = self._maps(h, w)
        return cv2.remap(labels, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=IGNORE_INDEX)
