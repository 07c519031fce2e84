"""Seek proxies: a short-GOP copy of a long-GOP scene video, for the studio's display.

A random seek decodes from the keyframe before the frame: with a keyframe every 60 frames
(Pupil Neon) or 250 (many exports) a 1080p seek costs 160-670 ms of CPU, against the
studio's 150 ms budget.  When a video's keyframes are further apart than
:data:`MAX_GOP` frames, the studio writes a copy with a keyframe every :data:`PROXY_GOP`
frames into the project folder (in a background thread, once per video) and shows frames
from it; until it is ready, and for tracking always, the original video is read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.frame_reader import VideoFrameReader
from gazevos.io.rundir import fingerprint
from gazevos.io.video import VideoWriter, iter_video, probe_video

#: videos with keyframes further apart than this get a proxy
MAX_GOP = 16
#: keyframe spacing of a proxy
PROXY_GOP = 8


def max_keyframe_interval(path: str | os.PathLike[str]) -> int:
    """The largest number of video packets from one keyframe to the next (the last stretch
    included): the most frames a random seek may decode.  Reads packets, decodes nothing."""
    try:
        with av.open(str(path)) as container:
            longest, run = 0, 0
            for packet in container.demux(video=0):
                if packet.size == 0:
                    continue
                if packet.is_keyframe and run:
                    longest = max(longest, run)
                    run = 0
                run += 1
            return max(longest, run)
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise GazevosError(f"cannot read the video's packets ({exc})", path) from exc


def proxy_path(video: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """Where the proxy of ``video`` lives in ``folder`` (named by the video's content)."""
    return Path(folder) / f"proxy-{fingerprint(video)[:16]}.mp4"


def build_proxy(video: str | os.PathLike[str], dst: str | os.PathLike[str],
                progress: Callable[[int], None] | None = None) -> Path:
    """Write a short-GOP copy of ``video`` to ``dst`` (atomically: complete or absent).

    The copy has the same frames, in the same order, at the same size (H.264, CRF 18, a
    keyframe every :data:`PROXY_GOP` frames).

    Raises:
        GazevosError: an unreadable video, or an odd frame size (H.264 needs even sizes).
    """
    info = probe_video(video)
    if int(info["width"]) % 2 or int(info["height"]) % 2:
        raise GazevosError("odd frame size: no proxy (the encoder needs even sizes)", video)
    with VideoWriter(dst, fps=float(info["fps"]), crf=18, gop=PROXY_GOP) as writer:
        for i, (rgb, _) in enumerate(iter_video(video)):
            writer.write(rgb)
            if progress is not None:
                progress(i + 1)
    return Path(dst)


class DisplayFrames:
    """Frames for display: from the proxy once it is built, else from the video.

    Args:
        video: the scene video.
        folder: where the proxy is kept (the project folder).
        n_frames: frames the studio shows (the proxy must hold at least these).
        build: build a missing proxy in a background thread when the video needs one.
    """

    def __init__(self, video: str | os.PathLike[str], folder: str | os.PathLike[str],
                 n_frames: int, build: bool = True) -> None:
        self.video = Path(video)
        self._reader = VideoFrameReader(self.video)
        self._proxy: VideoFrameReader | None = None
        self._n = n_frames
        self.path = proxy_path(self.video, folder)
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        if self.path.is_file():
            self._use(self.path)
        elif build and max_keyframe_interval(self.video) > MAX_GOP:
            self.thread = threading.Thread(target=self._build, name="gazevos-proxy",
                                           daemon=True)
            self.thread.start()

    @property
    def ready(self) -> bool:
        """Frames come from the proxy."""
        return self._proxy is not None

    def _use(self, path: Path) -> None:
        reader = VideoFrameReader(path)
        if len(reader) >= self._n:
            self._proxy = reader
        else:
            self.error = f"{path.name} holds {len(reader)} frames, not {self._n}"

    def _build(self) -> None:
        try:
            self._use(build_proxy(self.video, self.path))
        except GazevosError as exc:  # the display keeps reading the video itself
            self.error = str(exc)

    def get(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3)`` uint8 RGB."""
        reader = self._proxy or self._reader
        return reader.get(index)

    def __len__(self) -> int:
        return len(self._reader)
