"""One way to read frames, whatever holds them: a video file, a folder of images, a DAVIS sequence.

Frames are streamed one at a time (memory does not grow with video length) as
:class:`Frame` records carrying an RGB ``(H, W, 3)`` uint8 image, the frame index,
a timestamp in seconds and a name used for per-frame output files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from gazevos.errors import GazevosError
from gazevos.io.video import iter_video, path_kind, probe_video

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: largest image (width x height) read as a frame or mask: 8192 x 8192, far above any scene
#: camera; a larger header is refused before decoding (a file can declare 2^62 pixels)
MAX_PIXELS = 1 << 26


@dataclass(frozen=True)
class Frame:
    """One video frame.

    Attributes:
        index: 0-based position in the source.
        image: ``(H, W, 3)`` uint8 RGB.
        time: presentation time in seconds (video pts; index / fps for image folders).
        name: stem for per-frame outputs (``00000`` style for videos, the file stem for folders).
    """

    index: int
    image: np.ndarray
    time: float
    name: str


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def check_image_size(im: Image.Image, path: Path) -> None:
    """Refuse (one line) an opened, not yet decoded image larger than :data:`MAX_PIXELS`."""
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise GazevosError(f"image is {w}x{h} pixels, more than the {MAX_PIXELS} this reads "
                           "(damaged header?)", path)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB; one-line error when unreadable."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            check_image_size(im, path)
            im.load()
            if im.mode != "RGB":
                im = im.convert("RGB")
            # asarray + copy is several times faster than np.array(im) and stays writable
            return np.asarray(im).copy()
    except FileNotFoundError as exc:
        raise GazevosError("image file not found", path) from exc
    except Image.DecompressionBombError as exc:  # raised by open() past 2 x PIL's limit
        raise GazevosError(f"image declares more than {MAX_PIXELS} pixels (damaged header?)",
                           path) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise GazevosError(f"cannot read image ({exc.__class__.__name__})", path) from exc


class FrameSource:
    """A re-iterable stream of :class:`Frame` from a video file or an image folder.

    Args:
        path: a video file, a folder of images, or a DAVIS sequence folder.
        fps: frame rate used for image folders' timestamps (videos use their own pts).
    """

    def __init__(self, path: str | os.PathLike[str], fps: float = 30.0) -> None:
        self.path = Path(path)
        self._files: list[Path] | None = None
        kind = path_kind(self.path)
        if kind == "missing":
            raise GazevosError("no such video file or frame folder", self.path)
        if kind == "dir":
            files = [p for p in self.path.iterdir()
                     if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
            if not files:
                raise GazevosError("folder holds no JPEG/PNG frames", self.path)
            self._files = sorted(files, key=_natural_key)
            self.fps = fps
            first = read_image(self._files[0])
            self.height, self.width = first.shape[:2]
            self._count = len(self._files)
        else:
            info = probe_video(self.path)
            self.fps = float(info["fps"]) or fps
            self.height, self.width = int(info["height"]), int(info["width"])
            self._count = int(info["frames"])

    @property
    def is_video(self) -> bool:
        """True for a video file, False for a folder of images."""
        return self._files is None

    def __len__(self) -> int:
        """Number of frames (for videos, from the container header; may be 0 if unknown)."""
        return self._count

    @property
    def names(self) -> list[str]:
        """Per-frame output names, in order (videos: ``00000``, ``00001``, ...)."""
        if self._files is not None:
            return [p.stem for p in self._files]
        return [f"{i:05d}" for i in range(self._count)]

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, size: tuple[int, int] | None = None,
               keep: Callable[[int], bool] | None = None) -> Iterator[Frame]:
        """The frames in order, each scaled to ``size`` ``(width, height)`` by area
        averaging when given (a video's in its colour conversion, cheaper than resizing
        the full frame after it); with ``keep``, only the frames whose index it accepts
        (a video's others are decoded but not converted)."""
        if size == (self.width, self.height):
            size = None
        if self._files is not None:
            for i, p in enumerate(self._files):
                if keep is not None and not keep(i):
                    continue
                img = read_image(p)
                if img.shape[:2] != (self.height, self.width):
                    raise GazevosError(
                        f"frame size {img.shape[1]}x{img.shape[0]} differs from the first "
                        f"frame's {self.width}x{self.height}", p)
                if size is not None:
                    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                yield Frame(i, img, i / self.fps, p.stem)
        else:
            for i, (img, t) in enumerate(iter_video(self.path, size, keep)):
                if img is not None:
                    yield Frame(i, img, t, f"{i:05d}")


def open_frames(path: str | os.PathLike[str], fps: float = 30.0) -> FrameSource:
    """Open a video file or a folder of frames (see :class:`FrameSource`)."""
    path = Path(path)
    if path_kind(path) == "file" and path.suffix.lower() in IMAGE_SUFFIXES:
        raise GazevosError("expected a video file or a folder of frames, got a single image",
                           path)
    # other files (any suffix, VIDEO_SUFFIXES or not): PyAV decides, the error names the file
    return FrameSource(path, fps=fps)
