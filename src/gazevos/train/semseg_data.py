"""Labelled and unlabelled images for segmentation training, held in memory.

Labelled sources are DAVIS-layout roots (``JPEGImages/[480p/]SEQ/*.jpg`` with
``Annotations/[480p/]SEQ/*.png``) or folders with ``images/`` and ``labels/`` sub-folders
whose files match by name.  Everything is resized to one working size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.frames import IMAGE_SUFFIXES, open_frames, read_image
from gazevos.io.masks import read_mask
from gazevos.models.semseg.classes import IGNORE_INDEX
from gazevos.train.video_data import discover_videos


@dataclass
class LabelledSet:
    """``images``: ``(N, H, W, 3)`` uint8 RGB; ``labels``: ``(N, H, W)`` uint8 class ids
    (255 ignore); ``groups``: the sequence / folder name of each image."""

    images: np.ndarray
    labels: np.ndarray
    groups: list[str]


def resize_pair(image: np.ndarray, labels: np.ndarray | None, size: tuple[int, int]
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize an image (area) and its label map (nearest) to ``size = (H, W)``."""
    h, w = size
    img = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    lab = None if labels is None else cv2.resize(labels, (w, h),
                                                 interpolation=cv2.INTER_NEAREST)
    return img, lab


def _davis_dirs(root: Path) -> tuple[Path, Path] | None:
    img, ann = root / "JPEGImages", root / "Annotations"
    if not (img.is_dir() and ann.is_dir()):
        return None
    if (img / "480p").is_dir():
        img, ann = img / "480p", ann / "480p"
    return img, ann


def _pairs(root: Path, sequences: Sequence[str] | None) -> list[tuple[str, Path, Path]]:
    if not root.is_dir():
        raise GazevosError("no such labelled data folder", root)
    dirs = _davis_dirs(root)
    out: list[tuple[str, Path, Path]] = []
    if dirs is not None:
        img_dir, ann_dir = dirs
        seqs = sorted(p.name for p in img_dir.iterdir() if p.is_dir())
        if sequences:
            unknown = sorted(set(sequences) - set(seqs))
            if unknown:
                raise GazevosError(f"unknown sequences {unknown}", root)
            seqs = [s for s in seqs if s in set(sequences)]
        for s in seqs:
            for m in sorted((ann_dir / s).glob("*.png")):
                for suf in IMAGE_SUFFIXES:
                    f = img_dir / s / (m.stem + suf)
                    if f.is_file():
                        out.append((s, f, m))
                        break
    elif (root / "images").is_dir() and (root / "labels").is_dir():
        labels = {p.stem: p for p in (root / "labels").iterdir() if p.suffix == ".png"}
        for f in sorted((root / "images").iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.stem in labels:
                out.append((root.name, f, labels[f.stem]))
    else:
        raise GazevosError("not a labelled data folder (want JPEGImages/ + Annotations/ or "
                           "images/ + labels/)", root)
    if not out:
        raise GazevosError("holds no image with a label map", root)
    return out


def load_labelled(roots: Sequence[str | os.PathLike[str]], size: tuple[int, int],
                  num_classes: int, binary: bool, sequences: Sequence[str] | None = None,
                  stride: int = 1) -> LabelledSet:
    """Load labelled images, resized to ``size``.

    Args:
        roots: DAVIS-layout roots or ``images/`` + ``labels/`` folders.
        size: ``(H, W)`` working size.
        num_classes: labels must be below this (or 255).
        binary: any object id > 0 becomes class 1 (foreground / background from DAVIS).
        sequences: DAVIS sequences to take (default all).
        stride: take every ``stride``-th labelled image.

    Raises:
        GazevosError: missing folders, unreadable files, labels out of range.
    """
    images, labels, groups = [], [], []
    for raw in roots:
        pairs = _pairs(Path(raw), sequences)[::max(1, stride)]
        for group, f, m in pairs:
            lab = read_mask(m)
            if binary:
                lab = np.where(lab == IGNORE_INDEX, IGNORE_INDEX, lab > 0).astype(np.uint8)
            bad = (lab >= num_classes) & (lab != IGNORE_INDEX)
            if bad.any():
                raise GazevosError(f"label {int(lab[bad].max())} is not a class id "
                                   f"(0..{num_classes - 1} or 255)", m)
            img = read_image(f)
            if img.shape[:2] != lab.shape:
                raise GazevosError(f"label map size {lab.shape[::-1]} differs from its image "
                                   f"{img.shape[1::-1]}", m)
            img, lab = resize_pair(img, lab, size)
            images.append(img)
            labels.append(lab)
            groups.append(group)
    return LabelledSet(np.stack(images), np.stack(labels), groups)


def load_unlabelled(paths: Sequence[str | os.PathLike[str]], size: tuple[int, int],
                    max_frames: int, stride: int = 1) -> np.ndarray:
    """Frames of videos / frame folders, resized to ``size``: ``(N, H, W, 3)`` uint8."""
    frames = []
    for path in discover_videos(paths):
        n = 0
        for frame in open_frames(path):
            if frame.index % max(1, stride):
                continue
            frames.append(resize_pair(frame.image, None, size)[0])
            n += 1
            if n >= max_frames:
                break
    if not frames:
        raise GazevosError("no target frames found", str(paths[0]) if paths else None)
    return np.stack(frames)
