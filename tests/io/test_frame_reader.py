"""Random-access frame readers: same pixels as sequential decoding, bounded cache."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from gazevos.errors import GazevosError
from gazevos.io.frame_reader import (
    ArrayFrameReader,
    FolderFrameReader,
    VideoFrameReader,
    open_frame_reader,
)
from gazevos.io.video import iter_video

H, W, N, GOP = 48, 64, 50, 8


def _make_video(path: Path, n: int = N, gop: int = GOP) -> None:
    """An H.264 MP4 with a keyframe every ``gop`` frames and B-frames (pts reordered)."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "bf": "2",
                          "sc_threshold": "0", "crf": "18"}
        for t in range(n):
            img = np.roll(base, 2 * t, axis=1)
            img[:8, :] = (t * 5) % 255  # a band that tells frames apart
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    _make_video(path)
    return path, [f for f, _ in iter_video(path)]


def test_index_and_keyframes(video: tuple[Path, list[np.ndarray]]) -> None:
    path, ref = video
    reader = VideoFrameReader(path)
    assert len(reader) == len(ref) == N
    assert reader.seekable
    assert list(reader.keyframes) == list(range(0, N, GOP))
    assert reader.time(0) == pytest.approx(0.0, abs=0.1)
    assert reader.time(10) - reader.time(0) == pytest.approx(10 / 25)


def test_random_positions_equal_sequential_decoding(video: tuple[Path, list[np.ndarray]]
                                                     ) -> None:
    path, ref = video
    frame_bytes = H * W * 3
    reader = VideoFrameReader(path, cache_bytes=6 * frame_bytes, back_chunk=4)
    order = list(np.random.default_rng(0).integers(0, N, 60))
    order += list(range(N - 1, -1, -1))  # backward, frame by frame
    order += list(range(N))              # forward, frame by frame
    order += [N - 1, 0, 17, 16, 15, 30, 31, 32, 7, 6, 5, 4, 3]
    for i in order:
        got = reader.get(int(i))
        assert got.shape == (H, W, 3) and got.dtype == np.uint8
        assert np.array_equal(got, ref[i]), f"frame {i}"
        assert reader.cache_bytes <= 6 * frame_bytes
        assert not got.flags.writeable
    st = reader.stats
    assert st["steps"] >= N - 5  # the forward sweep continued the decoder
    assert st["hits"] >= N // 2  # the backward sweep was served from decoded chunks
    # backward: one seek per chunk of 4, not one per frame
    assert st["seeks"] < 60 + N // 4 + 20
    reader.close()
    assert reader.cache_bytes == 0
    assert np.array_equal(reader.get(20), ref[20])  # reopens


def test_backward_sweep_decodes_each_chunk_once(video: tuple[Path, list[np.ndarray]]) -> None:
    path, ref = video
    reader = VideoFrameReader(path, back_chunk=10)
    for i in range(N - 1, -1, -1):
        assert np.array_equal(reader.get(i), ref[i])
    assert reader.stats["seeks"] <= N // 10 + 2
    assert reader.stats["decoded"] <= 2 * N + GOP * (N // 10 + 2)


def test_small_cache_is_bounded(video: tuple[Path, list[np.ndarray]]) -> None:
    path, ref = video
    reader = VideoFrameReader(path, cache_bytes=H * W * 3)  # one frame
    for i in [5, 4, 3, 40, 39, 0]:
        assert np.array_equal(reader.get(i), ref[i])
        assert reader.cache_bytes <= H * W * 3
    tiny = VideoFrameReader(path, cache_bytes=100)
    with pytest.raises(GazevosError, match="larger than the frame cache"):
        tiny.get(3)


def test_errors_are_one_line(tmp_path: Path, video: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = video
    reader = VideoFrameReader(path)
    for bad in (-1, N):
        with pytest.raises(GazevosError, match="outside"):
            reader.get(bad)
    with pytest.raises(GazevosError, match="not found"):
        VideoFrameReader(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(GazevosError, match="junk.mp4"):
        VideoFrameReader(junk)
    with pytest.raises(GazevosError, match="no video file or frame folder"):
        open_frame_reader(tmp_path / "nothing")


def test_folder_reader(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    imgs = [rng.integers(0, 255, (10, 12, 3), dtype=np.uint8) for _ in range(12)]
    for i, img in enumerate(imgs):  # natural order: 2 before 10
        Image.fromarray(img).save(tmp_path / f"f{i}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    reader = open_frame_reader(tmp_path, cache_bytes=3 * 10 * 12 * 3)
    assert isinstance(reader, FolderFrameReader)
    assert len(reader) == 12
    for i in [0, 11, 2, 10, 3, 3, 7, 1]:
        assert np.array_equal(reader.get(i), imgs[i])
        assert reader.cache_bytes <= 3 * 10 * 12 * 3
    with pytest.raises(GazevosError, match="outside"):
        reader.get(12)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GazevosError, match="no images"):
        FolderFrameReader(empty)


def test_array_reader_and_dispatch(video: tuple[Path, list[np.ndarray]]) -> None:
    path, ref = video
    assert isinstance(open_frame_reader(path), VideoFrameReader)
    arr = ArrayFrameReader(ref)
    assert len(arr) == N and np.array_equal(arr.get(3), ref[3])
    with pytest.raises(GazevosError):
        arr.get(N)
