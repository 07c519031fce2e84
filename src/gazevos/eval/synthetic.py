"""Synthetic videos with known masks: textured squares moving over a textured background.

Small, deterministic data for tests, smoke runs and examples: :func:`moving_squares`
returns frames and label maps in memory; :func:`make_davis_folder` writes them in the
DAVIS layout (``JPEGImages/480p``, ``Annotations/480p``, ``ImageSets/dev.txt``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from gazevos.io.masks import write_mask


@dataclass(frozen=True)
class Square:
    """A moving square.

    Attributes:
        side: side length in pixels.
        start: ``(y, x)`` of its top-left corner at frame 0.
        velocity: ``(vy, vx)`` pixels per frame (positions are rounded to integers).
        appear: first frame where it is visible.
    """

    side: int
    start: tuple[int, int]
    velocity: tuple[float, float] = (0.0, 0.0)
    appear: int = 0


def texture(shape: tuple[int, int], rng: np.random.Generator, blur: float = 2.0) -> np.ndarray:
    """``(H, W, 3)`` uint8 smooth random colour texture (blurred noise, full contrast)."""
    noise = rng.random((*shape, 3), dtype=np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    lo, hi = smooth.min(axis=(0, 1)), smooth.max(axis=(0, 1))
    return np.clip((smooth - lo) / np.maximum(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)


def moving_squares(n_frames: int, size: tuple[int, int] = (96, 128),
                   squares: Sequence[Square] = (Square(24, (30, 20), (1.0, 2.0)),),
                   seed: int = 0, blur: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Frames and label maps of textured squares moving over a static textured background.

    Square ``k`` (0-based) is object ``k + 1``; later squares are drawn over earlier ones.
    ``blur`` is the texture scale in pixels (Gaussian sigma of the noise; larger is
    smoother, which optical flow follows more easily).

    Returns:
        ``frames (T, H, W, 3)`` uint8 RGB and ``labels (T, H, W)`` uint8 object ids.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    background = texture((h, w), rng, blur=blur)
    patches = [texture((s.side, s.side), rng, blur=blur) for s in squares]
    frames = np.empty((n_frames, h, w, 3), dtype=np.uint8)
    labels = np.zeros((n_frames, h, w), dtype=np.uint8)
    for t in range(n_frames):
        img = background.copy()
        for k, (sq, patch) in enumerate(zip(squares, patches, strict=True)):
            if t < sq.appear:
                continue
            y = int(round(sq.start[0] + sq.velocity[0] * t))
            x = int(round(sq.start[1] + sq.velocity[1] * t))
            y0, x0 = max(y, 0), max(x, 0)
            y1, x1 = min(y + sq.side, h), min(x + sq.side, w)
            if y1 <= y0 or x1 <= x0:
                continue
            img[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]
            labels[t, y0:y1, x0:x1] = k + 1
        frames[t] = img
    return frames, labels


def make_davis_folder(root: str | os.PathLike[str],
                      sequences: Mapping[str, int] | None = None,
                      size: tuple[int, int] = (64, 96), n_objects: int = 2,
                      grey_annotations: bool = False, seed: int = 0,
                      resolution: str = "480p") -> Path:
    """Write a tiny DAVIS-layout dataset of moving squares.

    Args:
        root: folder to create.
        sequences: ``{name: n_frames}`` (default two sequences of 6 and 8 frames).
        size: ``(H, W)`` of the frames.
        n_objects: squares per sequence (1 or 2 or 3).
        grey_annotations: write single-object 0/255 grey masks (DAVIS-2016 style);
            needs ``n_objects == 1``.
        seed: random seed (sequence ``i`` uses ``seed + i``).
        resolution: resolution folder name.

    Returns:
        ``root``.
    """
    if grey_annotations and n_objects != 1:
        raise ValueError("grey (0/255) annotations hold a single object")
    root = Path(root)
    sequences = dict(sequences or {"alpha": 6, "beta": 8})
    h, w = size
    layout = [Square(max(h // 3, 4), (h // 8, w // 8), (1.0, 2.0)),
              Square(max(h // 4, 4), (h // 2, w // 2), (-1.0, -1.0)),
              Square(max(h // 5, 4), (h // 8, w // 2), (1.0, -1.0))][:n_objects]
    for i, (name, n) in enumerate(sequences.items()):
        frames, labels = moving_squares(n, size, layout, seed + i)
        img_dir = root / "JPEGImages" / resolution / name
        ann_dir = root / "Annotations" / resolution / name
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        for t in range(n):
            Image.fromarray(frames[t]).save(img_dir / f"{t:05d}.jpg", quality=95)
            if grey_annotations:
                Image.fromarray((labels[t] > 0).astype(np.uint8) * 255, mode="L").save(
                    ann_dir / f"{t:05d}.png")
            else:
                write_mask(ann_dir / f"{t:05d}.png", labels[t])
    (root / "ImageSets").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "dev.txt").write_text("".join(f"{n}\n" for n in sequences))
    return root
