"""DAVIS-style masks: palette PNGs whose pixel values are object ids.

Label maps are ``(H, W)`` unsigned-integer arrays: 0 is background, 1..N are objects
and 255 is *void* (ignored by the evaluator).  Single-object masks stored as
grey-scale 0/255 images (DAVIS-2016 style) are read as object 1.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gazevos.errors import GazevosError
from gazevos.io.atomic import atomic_write
from gazevos.io.frames import MAX_PIXELS, check_image_size
from gazevos.io.png import encode_palette_png, palette_indices
from gazevos.io.video import path_kind

VOID = 255

#: mask files up to this size are read into memory once (the fast palette path, else Pillow
#: from the bytes); larger ones go to Pillow from the file
_FAST_MAX_BYTES = 64 << 20


def _make_palette() -> np.ndarray:
    """The 256-entry DAVIS / PASCAL-VOC palette as a ``(256, 3)`` uint8 array."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


DAVIS_PALETTE: np.ndarray = _make_palette()
"""``(256, 3)`` uint8: colour of each object id (0 black, 1 dark red, 2 green, ... 255 void)."""


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a mask PNG as an ``(H, W)`` uint8 label map.

    Palette ('P') images give their indices.  Grey-scale images with values {0, 255} only
    are single-object masks: 255 becomes object 1; other grey-scale values are taken as ids.
    RGB images are matched against :data:`DAVIS_PALETTE`.

    Raises:
        GazevosError: missing, unreadable, or with colours that are not palette entries.
    """
    path = Path(path)
    if path_kind(path) != "file":
        raise GazevosError("mask file not found", path)
    try:
        source: Path | io.BytesIO = path
        if path.stat().st_size <= _FAST_MAX_BYTES:
            data = path.read_bytes()
            fast = palette_indices(data, MAX_PIXELS)    # the plain palette PNG, fast
            if fast is not None:
                return fast
            source = io.BytesIO(data)
        with Image.open(source) as im:
            check_image_size(im, path)
            im.load()
            mode = im.mode
            arr = np.array(im)
    except Image.DecompressionBombError as exc:  # raised by open() past 2 x PIL's limit
        raise GazevosError(f"image declares more than {MAX_PIXELS} pixels (damaged header?)",
                           path) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise GazevosError(f"cannot read mask image ({exc.__class__.__name__})", path) from exc
    if mode == "P":
        return arr.astype(np.uint8)
    if mode in ("L", "I", "I;16", "1"):
        arr = np.asarray(arr)
        if mode == "1":
            return arr.astype(np.uint8)
        if arr.min(initial=0) < 0:
            raise GazevosError(f"negative object id {int(arr.min())}", path)
        top = int(arr.max(initial=0))
        if top > 255:
            raise GazevosError(f"object id {top} is above 255", path)
        arr = arr.astype(np.uint8, copy=False)
        present = np.flatnonzero(np.bincount(arr.reshape(-1), minlength=256))
        if set(present.tolist()) <= {0, 255}:
            return (arr == 255).view(np.uint8)
        return arr
    if mode in ("RGB", "RGBA"):
        rgb = arr[..., :3].astype(np.int32)
        key = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        pal = DAVIS_PALETTE.astype(np.int32)
        pal_key = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
        lookup = {int(k): i for i, k in enumerate(pal_key)}
        uniq, inverse = np.unique(key, return_inverse=True)
        ids = np.empty(len(uniq), dtype=np.uint8)
        for n, k in enumerate(uniq.tolist()):
            if k not in lookup:
                rgb_s = f"({k >> 16}, {(k >> 8) & 255}, {k & 255})"
                raise GazevosError(f"colour {rgb_s} is not a DAVIS palette colour", path)
            ids[n] = lookup[k]
        return ids[inverse.reshape(key.shape)]
    raise GazevosError(f"unsupported mask image mode {mode}", path)


def write_mask(path: str | os.PathLike[str], labels: np.ndarray) -> None:
    """Write an ``(H, W)`` label map (ids 0..255) as a DAVIS palette PNG, atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("label ids must be in 0..255")
    data = encode_palette_png(labels.astype(np.uint8, copy=False), DAVIS_PALETTE)
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def object_ids(labels: np.ndarray) -> list[int]:
    """Sorted object ids present in a label map (background 0 and void 255 excluded)."""
    ids = np.unique(labels)
    return [int(i) for i in ids if 0 < i < VOID]
