"""Synthetic scenes for the ``classic`` tracker tests: a textured disc on a textured background."""

from __future__ import annotations

import numpy as np

H, W = 96, 128


def background(seed: int = 0) -> np.ndarray:
    """``(H, W, 3)`` uint8 greenish, smoothly varying background with mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    base = 0.5 + 0.25 * np.sin(x / 9.0) * np.cos(y / 13.0)
    img = np.stack([60 + 40 * base, 120 + 60 * base, 60 + 30 * base], axis=-1)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def disc_mask(cy: float, cx: float, r: float) -> np.ndarray:
    """``(H, W)`` bool disc (parts outside the frame are cut off)."""
    y, x = np.mgrid[0:H, 0:W]
    return (y - cy) ** 2 + (x - cx) ** 2 <= r * r


def paint_disc(img: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """Paint a red, speckled object into ``mask`` (returns a copy)."""
    rng = np.random.default_rng(seed)
    out = img.copy()
    n = int(mask.sum())
    tex = np.stack([200 + rng.normal(0, 15, n), 40 + rng.normal(0, 10, n),
                    50 + rng.normal(0, 10, n)], axis=-1)
    out[mask] = np.clip(tex, 0, 255).astype(np.uint8)
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1 when both are empty)."""
    u = (a | b).sum()
    return 1.0 if u == 0 else float((a & b).sum() / u)
