"""Seek proxies of long-GOP videos for the studio's display."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.io.frame_reader import VideoFrameReader
from gazevos.io.video import VideoWriter
from gazevos.studio.proxy import (
    MAX_GOP,
    PROXY_GOP,
    DisplayFrames,
    build_proxy,
    max_keyframe_interval,
    proxy_path,
)


def _video(path: Path, n: int = 60, gop: int | None = None, size: tuple[int, int] = (96, 64)
           ) -> list[np.ndarray]:
    import cv2

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    base = cv2.GaussianBlur(noise, (0, 0), 4)  # smooth texture: what a codec keeps
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    frames = [np.roll(base, 3 * t, axis=1) for t in range(n)]
    with VideoWriter(path, fps=30, crf=10, gop=gop) as w:
        for f in frames:
            w.write(f)
    return frames


def test_keyframe_interval_is_read_from_packets(tmp_path: Path) -> None:
    _video(tmp_path / "g8.mp4", gop=8)
    _video(tmp_path / "long.mp4")  # the encoder's default: one keyframe in 60 frames
    assert max_keyframe_interval(tmp_path / "g8.mp4") == 8
    assert max_keyframe_interval(tmp_path / "long.mp4") == 60


def test_the_proxy_holds_the_same_frames_with_short_gops(tmp_path: Path) -> None:
    frames = _video(tmp_path / "long.mp4")
    proxy = build_proxy(tmp_path / "long.mp4", tmp_path / "p.mp4")
    assert max_keyframe_interval(proxy) == PROXY_GOP
    reader = VideoFrameReader(proxy)
    assert len(reader) == len(frames)
    for i in (0, 17, 59, 3):  # random order: seeks
        got = reader.get(i).astype(int)
        err = np.abs(got - frames[i].astype(int)).mean()
        other = np.abs(got - frames[i - 1 if i else 1].astype(int)).mean()
        assert err < 7 and err < other / 2, (i, err, other)  # this frame, not a neighbour


def test_display_frames_build_once_and_reuse(tmp_path: Path) -> None:
    _video(tmp_path / "long.mp4")
    display = DisplayFrames(tmp_path / "long.mp4", tmp_path, 60)
    assert display.thread is not None
    display.thread.join(60)
    assert display.ready and display.error is None
    assert proxy_path(tmp_path / "long.mp4", tmp_path).is_file()
    again = DisplayFrames(tmp_path / "long.mp4", tmp_path, 60)
    assert again.ready and again.thread is None  # found, not rebuilt
    assert again.get(30).shape == (64, 96, 3)


def test_short_gop_videos_need_no_proxy(tmp_path: Path) -> None:
    _video(tmp_path / "g8.mp4", gop=MAX_GOP // 2)
    display = DisplayFrames(tmp_path / "g8.mp4", tmp_path, 60)
    assert display.thread is None and not display.ready
    assert display.get(5).shape == (64, 96, 3)


def test_odd_sizes_and_junk_are_one_line_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(GazevosError, match="junk.mp4"):
        max_keyframe_interval(junk)
