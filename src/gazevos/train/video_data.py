"""Raw-video training data: find videos, load them downscaled, sample augmented clips.

Masks are never read: MAST learns from the frames alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.frames import IMAGE_SUFFIXES, open_frames
from gazevos.io.video import VIDEO_SUFFIXES


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())


def discover_videos(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand inputs into videos: video files and folders of frames.

    Each input may be a video file, a folder of frames, a DAVIS root (its
    ``JPEGImages/480p/*`` sequences are taken), or a folder whose sub-folders / video files
    are taken (one level deep).

    Raises:
        GazevosError: an input does not exist or holds no video or frames.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise GazevosError("no such video file or frame folder", path)
        if path.is_file():
            out.append(path)
            continue
        if (path / "JPEGImages").is_dir():
            base = path / "JPEGImages"
            base = base / "480p" if (base / "480p").is_dir() else base
            path = base
        if _has_images(path):
            out.append(path)
            continue
        found = sorted(p for p in path.iterdir()
                       if (p.is_dir() and _has_images(p))
                       or (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES))
        if not found:
            raise GazevosError("holds no frames, frame folders or video files", path)
        out.extend(found)
    return out


def load_video(path: Path, scale: float, max_frames: int) -> np.ndarray:
    """Read up to ``max_frames`` frames, resized by ``scale``: ``(T, h, w, 3)`` uint8 RGB."""
    frames = []
    for frame in open_frames(path):
        img = frame.image
        if scale != 1.0:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frames.append(img)
        if len(frames) >= max_frames:
            break
    if not frames:
        raise GazevosError("video has no frames", path)
    return np.stack(frames)


@dataclass(frozen=True)
class ClipSpec:
    """Where a training clip comes from: video ``video``, query frame ``query``, and the
    reference frames ``query - gap`` for each of ``gaps``."""

    video: int
    query: int
    gaps: tuple[int, ...]


class ClipSampler:
    """Draw training clips (references + query) with shared crop, flips and rotations.

    Args:
        videos: list of ``(T, h, w, 3)`` uint8 arrays.
        short_gaps: gaps of the short-term references (e.g. 1, 3, 5).
        long_refs: number of extra references drawn further back.
        long_max_gap: largest gap of a long-term reference.
        crop: side of the square crop.
        flip, rot90: augmentations (applied identically to every frame of a clip).
        rng: random generator.
    """

    def __init__(self, videos: list[np.ndarray], short_gaps: Sequence[int], long_refs: int,
                 long_max_gap: int, crop: int, flip: bool, rot90: bool,
                 rng: np.random.Generator) -> None:
        self.short_gaps = tuple(int(g) for g in short_gaps)
        self.long_refs = long_refs
        self.long_max_gap = long_max_gap
        self.crop = crop
        self.flip, self.rot90 = flip, rot90
        self.rng = rng
        need = max(self.short_gaps) + long_refs + 1
        self.videos = [v for v in videos
                       if v.shape[0] >= need and min(v.shape[1:3]) >= crop]
        if not self.videos:
            raise GazevosError(f"no training video has >= {need} frames of at least "
                               f"{crop}x{crop} pixels (after scaling)")
        lengths = np.array([v.shape[0] for v in self.videos], dtype=np.float64)
        self.weights = lengths / lengths.sum()

    def gaps(self) -> tuple[int, ...]:
        """Draw the reference gaps of one batch (shared by its clips), largest first."""
        far = max(self.short_gaps)
        longest = max(v.shape[0] for v in self.videos) - 1
        hi = max(far + 1, min(self.long_max_gap, longest))
        longs = [int(self.rng.integers(far + 1, hi + 1)) for _ in range(self.long_refs)]
        return tuple(sorted((*self.short_gaps, *longs), reverse=True))

    def spec(self, gaps: tuple[int, ...]) -> ClipSpec:
        """Draw a clip position for the given gaps."""
        ok = np.array([v.shape[0] > max(gaps) for v in self.videos])
        p = self.weights * ok
        vi = int(self.rng.choice(len(self.videos), p=p / p.sum()))
        n = self.videos[vi].shape[0]
        return ClipSpec(vi, int(self.rng.integers(max(gaps), n)), gaps)

    def clip(self, gaps: tuple[int, ...]) -> np.ndarray:
        """Draw one clip with references ``gaps`` frames before the query.

        Returns:
            ``(R + 1, crop, crop, 3)`` uint8 RGB, references in ``gaps`` order, query last.
        """
        s = self.spec(gaps)
        video = self.videos[s.video]
        idx = [s.query - g for g in s.gaps] + [s.query]
        h, w = video.shape[1:3]
        y = int(self.rng.integers(0, h - self.crop + 1))
        x = int(self.rng.integers(0, w - self.crop + 1))
        frames = video[idx, y:y + self.crop, x:x + self.crop]
        if self.flip and self.rng.random() < 0.5:
            frames = frames[:, :, ::-1]
        if self.flip and self.rng.random() < 0.5:
            frames = frames[:, ::-1]
        if self.rot90:
            frames = np.rot90(frames, k=int(self.rng.integers(0, 4)), axes=(1, 2))
        return np.ascontiguousarray(frames)
