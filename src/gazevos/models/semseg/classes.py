"""Class lists and colour palettes of segmentation models."""

from __future__ import annotations

import numpy as np

#: the 19 Cityscapes train-id classes, in train-id order (0 road ... 18 bicycle)
CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
    "bus", "train", "motorcycle", "bicycle")

#: the standard Cityscapes colour of each train id, ``(19, 3)`` uint8 RGB
CITYSCAPES_PALETTE: np.ndarray = np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32)], dtype=np.uint8)

#: foreground / background segmentation (DAVIS masks)
FGBG_CLASSES: tuple[str, ...] = ("background", "foreground")
FGBG_PALETTE: np.ndarray = np.array([(0, 0, 0), (255, 255, 255)], dtype=np.uint8)

#: label value that is ignored by the loss and in scores
IGNORE_INDEX = 255


def full_palette(colours: np.ndarray) -> np.ndarray:
    """A 256-entry ``(256, 3)`` uint8 palette: ``colours`` first, the rest black, 255 white
    (the ignore label)."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    pal[: len(colours)] = colours
    pal[IGNORE_INDEX] = 255
    return pal


def palette_for(classes: tuple[str, ...]) -> np.ndarray:
    """Colours of a class list: the standard ones for Cityscapes and fg/bg, else
    :func:`default_palette`."""
    if tuple(classes) == FGBG_CLASSES:
        return FGBG_PALETTE.copy()
    if tuple(classes) == CITYSCAPES_CLASSES:
        return CITYSCAPES_PALETTE.copy()
    return default_palette(len(classes))


def default_palette(n: int) -> np.ndarray:
    """Distinct colours for ``n`` classes: ``(n, 3)`` uint8 (Cityscapes colours first)."""
    if n <= len(CITYSCAPES_PALETTE):
        return CITYSCAPES_PALETTE[:n].copy()
    rng = np.random.default_rng(0)
    extra = rng.integers(0, 256, size=(n - len(CITYSCAPES_PALETTE), 3), dtype=np.uint8)
    return np.concatenate([CITYSCAPES_PALETTE, extra])
