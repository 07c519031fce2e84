"""Frame sources: image folders (order, names, sizes) and videos (real timestamps)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from gazevos.errors import GazevosError
from gazevos.io import open_frames
from gazevos.io.video import VideoWriter, iter_video


def _grey(value: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def test_image_folder_natural_order_names_and_times(tmp_path: Path) -> None:
    for i, name in enumerate(["frame10.png", "frame2.png", "frame1.png"]):
        Image.fromarray(_grey(40 * (i + 1), (6, 8))).save(tmp_path / name)
    (tmp_path / ".hidden.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a frame")
    src = open_frames(tmp_path, fps=10)
    assert not src.is_video and len(src) == 3 and (src.height, src.width) == (6, 8)
    assert src.names == ["frame1", "frame2", "frame10"]
    frames = list(src)
    assert [f.name for f in frames] == ["frame1", "frame2", "frame10"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.time for f in frames] == pytest.approx([0.0, 0.1, 0.2])
    assert [int(f.image[0, 0, 0]) for f in frames] == [120, 80, 40]
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (6, 8, 3)
    assert frames[0].image.flags.writeable
    assert len(list(src)) == 3                         # re-iterable


def test_image_folder_grey_and_rgba_become_rgb(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 5), 7, np.uint8), mode="L").save(tmp_path / "a.png")
    Image.fromarray(np.full((4, 5, 4), 9, np.uint8), mode="RGBA").save(tmp_path / "b.png")
    imgs = [f.image for f in open_frames(tmp_path)]
    assert all(i.shape == (4, 5, 3) for i in imgs)
    assert imgs[0][0, 0].tolist() == [7, 7, 7] and imgs[1][0, 0].tolist() == [9, 9, 9]


def test_image_folder_size_change_names_the_file(tmp_path: Path) -> None:
    Image.fromarray(_grey(1, (6, 8))).save(tmp_path / "0.png")
    Image.fromarray(_grey(1, (7, 8))).save(tmp_path / "1.png")
    with pytest.raises(GazevosError) as err:
        list(open_frames(tmp_path))
    assert str(tmp_path / "1.png") in str(err.value)


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(GazevosError, match="no such"):
        open_frames(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GazevosError, match="no JPEG/PNG"):
        open_frames(tmp_path / "empty")
    Image.fromarray(_grey(1)).save(tmp_path / "one.png")
    with pytest.raises(GazevosError, match="single image"):
        open_frames(tmp_path / "one.png")


def test_unreadable_frame_names_the_file(tmp_path: Path) -> None:
    Image.fromarray(_grey(1, (6, 8))).save(tmp_path / "0.jpg")
    (tmp_path / "1.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(GazevosError) as err:
        list(open_frames(tmp_path))
    assert str(tmp_path / "1.jpg") in str(err.value)


def test_video_constant_rate(tmp_path: Path) -> None:
    path = tmp_path / "cfr.mp4"
    with VideoWriter(path, fps=25) as w:
        for i in range(10):
            w.write(_grey(20 * i))
    src = open_frames(path)
    assert src.is_video and len(src) == 10 and src.fps == pytest.approx(25)
    assert (src.height, src.width) == (48, 64)
    frames = list(src)
    assert len(frames) == 10
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(10)], abs=1e-6)
    assert [f.name for f in frames] == [f"{i:05d}" for i in range(10)]
    assert src.names == [f.name for f in frames]
    # decoded in order: the grey levels increase by ~20 per frame
    means = [float(f.image.mean()) for f in frames]
    assert np.allclose(means, [20 * i for i in range(10)], atol=3)


@pytest.mark.skipif("libx264" not in av.codecs_available, reason="needs libx264")
@pytest.mark.parametrize(("preset", "subme"), [("superfast", b"subme=1 "),
                                               ("veryfast", b"subme=2 ")])
def test_video_writer_preset_and_threads_reach_x264(tmp_path: Path, preset: str,
                                                    subme: bytes) -> None:
    # x264 writes its settings into the stream: the preset shows as its subpel level
    path = tmp_path / f"{preset}.mp4"
    with VideoWriter(path, fps=10, preset=preset, threads=1) as w:
        for i in range(4):
            w.write(_grey(30 * i))
    data = path.read_bytes()
    assert b"x264 - core" in data and subme in data and b" threads=1 " in data
    assert len(list(open_frames(path))) == 4


@pytest.mark.skipif("libx264" not in av.codecs_available, reason="needs libx264")
def test_video_writer_x264_params_reach_x264(tmp_path: Path) -> None:
    from gazevos.report.annotation import OVERLAY_PRESET, OVERLAY_X264

    data = {}
    for params in ("", OVERLAY_X264):
        path = tmp_path / f"v{len(params)}.mp4"
        with VideoWriter(path, fps=10, preset=OVERLAY_PRESET, threads=1,
                         x264_params=params) as w:
            for i in range(4):
                w.write(_grey(30 * i))
        data[params] = path.read_bytes()
        assert len(list(open_frames(path))) == 4
    # superfast's own: adaptive B-frames and quantisation; the overlay's: neither
    assert b" b_adapt=1 " in data[""] and b" aq=1:" in data[""]
    assert b" b_adapt=0 " in data[OVERLAY_X264] and b" aq=0\0" in data[OVERLAY_X264]


def test_video_variable_rate_uses_pts(tmp_path: Path) -> None:
    pts_ms = [0, 40, 80, 200, 240, 250, 400, 433, 500, 520]
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4",
                                      rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.time_base = Fraction(1, 1000)
        for i, p in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(_grey(20 * i), format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = list(open_frames(path))
    assert [f.time for f in frames] == pytest.approx([p / 1000 for p in pts_ms], abs=1e-4)
    assert [f.index for f in frames] == list(range(10))


def test_corrupt_videos(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    with pytest.raises(GazevosError) as err:
        list(open_frames(junk))
    assert str(junk) in str(err.value)

    rng = np.random.default_rng(1)
    good = tmp_path / "good.mp4"
    with VideoWriter(good, fps=25) as w:
        for _ in range(20):
            w.write(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    data = good.read_bytes()
    cut = tmp_path / "cut.mp4"                        # index (moov) at the end is lost
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(GazevosError) as err:
        list(open_frames(cut))
    assert str(cut) in str(err.value) and "\n" not in str(err.value)


def test_video_writer_abort_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), VideoWriter(path, fps=10) as w:
        w.write(_grey(5))
        raise RuntimeError("stop")
    assert not list(tmp_path.iterdir())


def test_frames_scaled_in_decoding_match_resizing_after(tmp_path: Path) -> None:
    # left half dark, right half bright, a vertical ramp of red: scaled to half size while
    # decoding (video) or after reading (folder), the picture is the area average
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, 32:] = 200
    img[..., 0] = np.linspace(0, 240, 48, dtype=np.uint8)[:, None]
    path = tmp_path / "v.mp4"
    with VideoWriter(path, fps=10, crf=0) as w:
        for _ in range(3):
            w.write(img)
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(img).save(folder / "0.png")
    want = cv2.resize(img, (32, 24), interpolation=cv2.INTER_AREA).astype(int)
    for src, n in ((open_frames(path), 3), (open_frames(folder), 1)):
        frames = list(src.frames((32, 24)))
        assert len(frames) == n and [f.index for f in frames] == list(range(n))
        for f in frames:
            assert f.image.shape == (24, 32, 3) and f.image.dtype == np.uint8
            # the video's chroma is subsampled: within a few grey levels, edge included
            assert np.abs(f.image.astype(int) - want).mean() < 4
        # the frame's own size is no scaling at all
        assert np.array_equal(next(iter(src.frames((64, 48)))).image, next(iter(src)).image)


def test_frames_keep_only_the_wanted_indices(tmp_path: Path) -> None:
    path = tmp_path / "cfr.mp4"
    with VideoWriter(path, fps=25) as w:
        for i in range(10):
            w.write(_grey(20 * i))
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(_grey(20 * i)).save(folder / f"{i}.png")
    wanted = {2, 7}
    for src in (open_frames(path), open_frames(folder)):
        frames = list(src.frames(keep=wanted.__contains__))
        assert [f.index for f in frames] == [2, 7]
        # the right frames (grey level 20 per index), their own names and times
        assert [round(float(f.image.mean()) / 20) for f in frames] == [2, 7]
        every = list(src)
        assert [(f.name, f.time) for f in frames] == [(every[k].name, every[k].time)
                                                      for k in (2, 7)]


def test_video_writer_colours_survive_the_round_trip(tmp_path: Path) -> None:
    """Flat patches of known colours (and an odd size, cropped to even) decode back within
    the rounding of 4:2:0 video at a near-lossless quality."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 200, 30), (128, 128, 128),
               (10, 20, 30)]
    img = np.zeros((61, 97, 3), np.uint8)
    for k, c in enumerate(colours):
        img[:, 16 * k: 16 * (k + 1)] = c
    with VideoWriter(tmp_path / "c.mp4", fps=10.0, crf=0) as w:
        for _ in range(3):
            w.write(img)
    got = [f for f, _ in iter_video(tmp_path / "c.mp4")]
    assert len(got) == 3 and got[0].shape == (60, 96, 3)
    for k, c in enumerate(colours):
        patch = got[1][10:50, 16 * k + 4: 16 * k + 12].reshape(-1, 3).astype(int)
        assert np.abs(patch - np.array(c)).max() <= 4, (c, patch.mean(0))
