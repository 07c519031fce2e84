"""Inference: image normalisation, per-pixel class probabilities, label maps, objects.

Class maps become tracker objects (thesis section 3.3: HRNet labels the first frame, the
tracker carries the labels through the video): either one object per class present or
one object per connected component of at least ``min_pixels`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gazevos.errors import GazevosError

#: ImageNet mean / std of RGB in [0, 1] (the official HRNet input normalisation)
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def normalize(images: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` or ``(B, H, W, 3)`` uint8 RGB -> ``(B, 3, H, W)`` float32 network input."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise GazevosError(f"images must be (H, W, 3) or (B, H, W, 3) RGB, got {arr.shape}")
    x = (arr.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@torch.no_grad()
def predict_probs(model: nn.Module, image: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Class probabilities of one image at its own resolution.

    Args:
        model: a segmentation network returning ``(B, C, h, w)`` logits.
        image: ``(H, W, 3)`` uint8 RGB.
        scale: the image is resized by this factor before the network (speed).

    Returns:
        ``(C, H, W)`` float32 softmax probabilities.
    """
    h, w = image.shape[:2]
    img = image
    if scale != 1.0:
        img = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    was_training = model.training
    model.eval()
    try:
        logits = model(normalize(img))
    finally:
        model.train(was_training)
    logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    return torch.softmax(logits, dim=1)[0].numpy()


@dataclass(frozen=True)
class SegObject:
    """A tracker object made from a segmentation: its id, class and size (pixels)."""

    object_id: int
    class_id: int
    class_name: str
    pixels: int


def labels_to_objects(labels: np.ndarray, classes: tuple[str, ...], mode: str = "classes",
                      min_pixels: int = 0, skip: tuple[int, ...] = ()
                      ) -> tuple[np.ndarray, list[SegObject]]:
    """Turn a class map into an object map for the trackers.

    Args:
        labels: ``(H, W)`` class ids.
        classes: class names.
        mode: ``classes`` (one object per class present) or ``components`` (one per
            8-connected component).
        min_pixels: objects smaller than this are dropped (become background 0).
        skip: class ids that never become objects (e.g. a ``background`` class).

    Returns:
        ``(H, W)`` uint8 object map (0 background, ids 1..K in order of class, then of
        component position) and the objects.

    Raises:
        GazevosError: unknown mode, or more than 254 objects.
    """
    if mode not in ("classes", "components"):
        raise GazevosError(f"unknown object mode '{mode}' (classes or components)")
    out = np.zeros(labels.shape, dtype=np.uint8)
    objs: list[SegObject] = []
    for c in (int(v) for v in np.unique(labels)):
        if c in skip or not 0 <= c < len(classes):
            continue
        region = (labels == c).astype(np.uint8)
        if mode == "classes":
            parts = [region.astype(bool)]
        else:
            n, comp = cv2.connectedComponents(region, connectivity=8)
            parts = [comp == k for k in range(1, n)]
        for part in parts:
            size = int(part.sum())
            if size < max(1, min_pixels):
                continue
            if len(objs) >= 254:
                raise GazevosError("more than 254 objects; raise --min-pixels")
            oid = len(objs) + 1
            out[part] = oid
            objs.append(SegObject(oid, c, classes[c], size))
    return out, objs
