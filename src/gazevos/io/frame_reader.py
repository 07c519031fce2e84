"""Random access to the frames of a video or an image folder, fast enough to scrub.

:class:`VideoFrameReader` reads a video file through PyAV.  Opening it reads the
container's packet headers once (no decoding; 5 s for a one-hour, 90 000-frame video on a
busy 2-core machine) to learn every frame's presentation time and the keyframes; then

* a frame at a random position costs one seek to the keyframe before it and the decoding of
  the frames from there (only the asked-for frame is converted to RGB);
* the next frame after the last one read continues the decoder where it is (a step);
* reading backwards (frame ``i`` right after ``i + 1``: a backward tracking pass, or the
  left-arrow key) decodes a chunk of frames ending at ``i`` forward once — from the
  keyframe before ``i`` (the decoder has to start there anyway), at least 4 and at most
  ``back_chunk`` frames — and serves them from the cache in reverse; after a seek the few
  frames before the target, decoded on the way anyway, are kept too, so the first step
  back is a cache hit;
* frames are kept in a least-recently-used cache bounded in bytes (``cache_bytes``):
  returned frames as RGB, frames decoded on the way as the decoder's YUV frames (half the
  bytes, and no RGB conversion unless asked for), so memory does not grow with the length
  of the video.

:class:`FolderFrameReader` reads a folder of images (natural order), with the same cache;
:class:`ArrayFrameReader` serves frames held in memory (tests, short clips).
:func:`open_frame_reader` picks the reader for a path.  All return ``(H, W, 3)`` uint8 RGB
arrays that must not be modified (they are read-only views of the cache).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.frames import IMAGE_SUFFIXES, read_image

#: default cache bound: about 40 frames of 1080p RGB
DEFAULT_CACHE_BYTES = 256 << 20
#: frames decoded (at most) per chunk when reading backwards
DEFAULT_BACK_CHUNK = 32
#: frames before a seek target kept decoded (not converted) for the next step back
DEFAULT_KEEP_BEFORE = 8


def _nbytes(item: np.ndarray | av.VideoFrame) -> int:
    if isinstance(item, np.ndarray):
        return int(item.nbytes)
    return int(sum(p.buffer_size for p in item.planes))


class _LRU:
    """Frames by index (RGB arrays, or decoded frames not yet converted), least recently
    used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise GazevosError(f"cache size {max_bytes} bytes is negative")
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self._items: OrderedDict[int, np.ndarray | av.VideoFrame] = OrderedDict()

    def __contains__(self, index: int) -> bool:
        return index in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, index: int) -> np.ndarray | av.VideoFrame | None:
        arr = self._items.get(index)
        if arr is not None:
            self._items.move_to_end(index)
        return arr

    def put(self, index: int, arr: np.ndarray | av.VideoFrame) -> np.ndarray | av.VideoFrame:
        if isinstance(arr, np.ndarray):
            arr.flags.writeable = False
        old = self._items.pop(index, None)
        if old is not None:
            self.bytes -= _nbytes(old)
        self._items[index] = arr
        self.bytes += _nbytes(arr)
        while self.bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= _nbytes(dropped)
        if self.bytes > self.max_bytes:  # one frame larger than the whole cache
            self._items.clear()
            self.bytes = 0
        return arr

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


class VideoFrameReader:
    """Random access to a video file's frames (seek + decode, bounded LRU cache).

    Args:
        path: the video file.
        cache_bytes: upper bound of the frame cache (decoded RGB frames).
        back_chunk: most frames decoded at once when reading backwards (bounded by half the
            cache); a chunk starts at the keyframe before the frame asked for.
        keep_before: after a seek to frame ``i``, frames ``i - keep_before .. i - 1``
            (decoded on the way from the keyframe anyway) are kept, unconverted.
        threads: decoder threading, ``"AUTO"``, ``"FRAME"``, ``"SLICE"`` or ``"NONE"``.

    Frame ``i`` is the ``i``-th frame in presentation order, the same frame as the ``i``-th
    one :func:`gazevos.io.video.iter_video` decodes.  Thread-safe (one lock), but one
    decoder: a tracking pass and a display that read the same video at the same time should
    each have their own reader, or every display seek breaks the pass's sequential reading.

    Raises:
        GazevosError: missing, not a video, no video stream, no decodable frame.
    """

    def __init__(self, path: str | os.PathLike[str], cache_bytes: int = DEFAULT_CACHE_BYTES,
                 back_chunk: int = DEFAULT_BACK_CHUNK, threads: str = "AUTO",
                 keep_before: int = DEFAULT_KEEP_BEFORE) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise GazevosError("video file not found", self.path)
        self._cache = _LRU(cache_bytes)
        self.back_chunk = max(1, int(back_chunk))
        self.keep_before = max(0, int(keep_before))
        self._threads = threads
        self._lock = threading.Lock()
        self._container: av.container.InputContainer | None = None
        self._frames_iter: Iterator[av.VideoFrame] | None = None
        self._next = -1  # index the decoder yields next (-1: not positioned)
        self._last = -2  # last index asked for
        self.stats = {"hits": 0, "steps": 0, "seeks": 0, "decoded": 0}
        self._index()

    # -- opening --------------------------------------------------------------------------
    def _open(self) -> av.container.InputContainer:
        try:
            container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise GazevosError(f"cannot open video ({exc.__class__.__name__})",
                               self.path) from exc
        if not container.streams.video:
            container.close()
            raise GazevosError("file has no video stream", self.path)
        stream = container.streams.video[0]
        stream.thread_type = self._threads
        return container

    def _index(self) -> None:
        """Presentation times of all frames and the keyframes, from packet headers."""
        container = self._open()
        try:
            stream = container.streams.video[0]
            self.time_base = stream.time_base or Fraction(1, 90000)
            self.fps = float(stream.average_rate or stream.guessed_rate or 30)
            pts: list[int] = []
            keys: list[int] = []
            seekable = True
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.is_discard:
                        continue
                    if packet.pts is None:
                        seekable = False
                        pts.append(len(pts))
                        continue
                    pts.append(int(packet.pts))
                    if packet.is_keyframe:
                        keys.append(int(packet.pts))
            except av.error.FFmpegError as exc:
                raise GazevosError(f"video is corrupt after frame {len(pts)} "
                                   f"({exc.__class__.__name__})", self.path) from exc
        finally:
            container.close()
        if not pts:
            raise GazevosError("video has no frames", self.path)
        self._pts = np.array(sorted(pts), dtype=np.int64)
        self.seekable = seekable and len(np.unique(self._pts)) == len(self._pts)
        key_idx = np.searchsorted(self._pts, np.array(sorted(set(keys)), dtype=np.int64))
        self._keys = key_idx if self.seekable and key_idx.size else np.zeros(1, np.int64)
        self.shape: tuple[int, int, int] | None = None

    def __len__(self) -> int:
        return int(self._pts.size)

    def time(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds (index / fps without pts)."""
        if not self.seekable:
            return index / self.fps
        return float(self._pts[index] * self.time_base)

    @property
    def keyframes(self) -> np.ndarray:
        """Indices of the frames the decoder can start at (seek targets)."""
        return self._keys.copy()

    # -- decoding -------------------------------------------------------------------------
    def _decode_iter(self, container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            yield from packet.decode()

    def _position(self, index: int) -> None:
        """Make the decoder yield frames from the keyframe at or before ``index``."""
        if self._container is None:
            self._container = self._open()
        key = int(self._keys[np.searchsorted(self._keys, index, side="right") - 1])
        if key == 0:
            self._container.seek(0)
        else:
            stream = self._container.streams.video[0]
            self._container.seek(int(self._pts[key]), stream=stream, backward=True)
        self._frames_iter = self._decode_iter(self._container)
        self._next = -1  # known on the first decoded frame
        self.stats["seeks"] += 1

    def _frame_index(self, frame: av.VideoFrame, guess: int) -> int:
        if not self.seekable or frame.pts is None:
            return guess
        i = int(np.searchsorted(self._pts, frame.pts))
        return i if i < len(self._pts) and self._pts[i] == frame.pts else guess

    def _decode_to(self, stop: int, keep_from: int) -> None:
        """Decode up to frame ``stop`` and cache it as RGB; frames ``keep_from .. stop - 1``
        are cached as decoded (converted to RGB only when asked for)."""
        assert self._frames_iter is not None
        guess = self._next
        try:
            for frame in self._frames_iter:
                i = self._frame_index(frame, guess if guess >= 0 else 0)
                guess = i + 1
                self.stats["decoded"] += 1
                if i == stop:
                    rgb = frame.to_ndarray(format="rgb24")
                    self.shape = rgb.shape
                    self._cache.put(i, rgb)
                elif keep_from <= i < stop and i not in self._cache:
                    self._cache.put(i, frame)
                if i >= stop:
                    self._next = i + 1
                    return
        except av.error.FFmpegError as exc:
            self._frames_iter = None
            raise GazevosError(f"video is corrupt near frame {stop} "
                               f"({exc.__class__.__name__})", self.path) from exc
        self._frames_iter = None
        self._next = -1
        raise GazevosError(f"frame {stop} could not be decoded", self.path)

    def _cached(self, index: int) -> np.ndarray | None:
        """Frame ``index`` from the cache as RGB (converting a decoded frame), or None."""
        item = self._cache.get(index)
        if item is None or isinstance(item, np.ndarray):
            return item
        rgb = item.to_ndarray(format="rgb24")
        self.shape = rgb.shape
        return self._cache.put(index, rgb)  # type: ignore[return-value]

    def get(self, index: int) -> np.ndarray:
        """Frame ``index`` as a read-only ``(H, W, 3)`` uint8 RGB array.

        Raises:
            GazevosError: index outside ``0 .. len - 1``, or the frame does not decode.
        """
        index = int(index)
        if not 0 <= index < len(self):
            raise GazevosError(f"frame {index} is outside the video's frames 0..{len(self) - 1}",
                               self.path)
        with self._lock:
            last, self._last = self._last, index
            hit = self._cached(index)
            if hit is not None:
                self.stats["hits"] += 1
                return hit
            nxt = self._next
            if self._frames_iter is not None and 0 <= nxt <= index and (
                    index - nxt < 2 * self.back_chunk
                    or self._keys[np.searchsorted(self._keys, index, side="right") - 1] <= nxt):
                self.stats["steps"] += 1  # forward from where the decoder is
                self._decode_to(index, index)
            elif index < last <= index + 2:  # reading backwards: a chunk ending here
                start = self._back_start(index)
                self._position(start)
                self._decode_to(index, start)
            else:  # a seek; the few frames before are kept for a step back
                self._position(index)
                self._decode_to(index, max(0, index - self.keep_before))
            out = self._cached(index)
            if out is None and self._cache.max_bytes >= (np.prod(self.shape or (0,)) or 1):
                # the seek landed after the frame (a damaged index): decode from the start
                self._frames_iter, self._next = None, -1
                self._container.seek(0)  # type: ignore[union-attr]
                self._frames_iter = self._decode_iter(self._container)  # type: ignore[arg-type]
                self._decode_to(index, index)
                out = self._cached(index)
            if out is None:  # a frame larger than the whole cache
                raise GazevosError(f"frame {index} is larger than the frame cache "
                                   f"({self._cache.max_bytes} bytes)", self.path)
            return out

    def _key_before(self, index: int) -> int:
        """The keyframe at or before ``index``."""
        return int(self._keys[np.searchsorted(self._keys, index, side="right") - 1])

    def _back_start(self, index: int) -> int:
        """First frame of the backward chunk ending at ``index``: from the keyframe before
        it (decoding starts there anyway), at least 4 and at most ``back_chunk`` frames
        (and half the cache)."""
        chunk = max(1, min(self.back_chunk, self._chunk_limit()))
        lowest = max(0, index - chunk + 1)
        start = max(self._key_before(index), lowest)
        if index - start + 1 < min(4, chunk) and start > 0:
            start = max(self._key_before(start - 1), lowest)
        return start

    def _chunk_limit(self) -> int:
        if self.shape is None:
            return self.back_chunk
        return max(1, self._cache.max_bytes // (2 * int(np.prod(self.shape))))

    @property
    def cache_bytes(self) -> int:
        """Bytes held in the frame cache now."""
        return self._cache.bytes

    def close(self) -> None:
        """Close the file and empty the cache (the reader reopens on the next ``get``)."""
        with self._lock:
            self._frames_iter = None
            if self._container is not None:
                self._container.close()
                self._container = None
            self._next = -1
            self._cache.clear()

    def __enter__(self) -> VideoFrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _natural_key(path: Path) -> list[object]:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


class FolderFrameReader:
    """Random access to a folder of images (natural order), with a bounded LRU cache."""

    def __init__(self, folder: str | os.PathLike[str],
                 cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.path = Path(folder)
        if not self.path.is_dir():
            raise GazevosError("frame folder not found", self.path)
        self.files = sorted((p for p in self.path.iterdir()
                             if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
                            key=_natural_key)
        if not self.files:
            raise GazevosError("folder holds no images", self.path)
        self._cache = _LRU(cache_bytes)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.files)

    def get(self, index: int) -> np.ndarray:
        """Image ``index`` as a read-only ``(H, W, 3)`` uint8 RGB array."""
        index = int(index)
        if not 0 <= index < len(self):
            raise GazevosError(f"frame {index} is outside the folder's frames "
                               f"0..{len(self) - 1}", self.path)
        with self._lock:
            hit = self._cache.get(index)
            if hit is not None:
                return hit
            return self._cache.put(index, read_image(self.files[index]))

    @property
    def cache_bytes(self) -> int:
        """Bytes held in the frame cache now."""
        return self._cache.bytes

    def close(self) -> None:
        """Empty the cache."""
        self._cache.clear()


class ArrayFrameReader:
    """Frames held in memory (a list or an ``(N, H, W, 3)`` array) as a frame reader."""

    def __init__(self, frames: Sequence[np.ndarray] | np.ndarray) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def get(self, index: int) -> np.ndarray:
        """Frame ``index``."""
        if not 0 <= int(index) < len(self.frames):
            raise GazevosError(f"frame {index} is outside 0..{len(self.frames) - 1}")
        return np.asarray(self.frames[int(index)])


def open_frame_reader(path: str | os.PathLike[str], cache_bytes: int = DEFAULT_CACHE_BYTES
                      ) -> VideoFrameReader | FolderFrameReader:
    """A :class:`VideoFrameReader` for a file, a :class:`FolderFrameReader` for a folder."""
    path = Path(path)
    if path.is_dir():
        return FolderFrameReader(path, cache_bytes)
    if path.is_file():
        return VideoFrameReader(path, cache_bytes)
    raise GazevosError("no video file or frame folder here", path)
