"""Fuzzing mask and frame reading: palette / grey / 16-bit / RGBA / odd-mode images, other
formats under a ``.png`` name, huge declared sizes, truncated files and random bytes.

Properties:

* :func:`read_mask` returns an ``(H, W)`` uint8 label map of the image's size, whose ids are
  the palette indices (P), the grey values (L / 16-bit, 0/255 read as object 1) or the DAVIS
  palette entry of each colour (RGB / RGBA), or raises a one-line :class:`GazevosError`;
* :func:`write_mask` then :func:`read_mask` gives back any ``(H, W)`` uint8 label map;
* :func:`read_image` and :func:`open_frames` give ``(H, W, 3)`` uint8 frames or a one-line
  error, for image folders and (damaged) videos.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from _fuzz import LEVELS, builders, count, fuzz_settings, library_outcome
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from gazevos.errors import GazevosError
from gazevos.io import open_frames, read_mask, write_mask
from gazevos.io.frames import read_image
from gazevos.io.masks import DAVIS_PALETTE

pytestmark = pytest.mark.timeout(300)

sizes = st.tuples(st.integers(1, 40), st.integers(1, 40))  # (H, W)


def _png_with_size(width: int, height: int) -> bytes:
    """A valid-looking 8-bit grey PNG header declaring ``width x height`` (no real data)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


KINDS = ["P", "L", "L01", "I;16", "1", "RGB-palette", "RGB", "RGBA-palette", "LA",
         "other-format", "huge", "truncated", "random"]


@st.composite
def mask_files(draw: st.DrawFn, kind: str | None = None
               ) -> tuple[bytes, str, np.ndarray | None]:
    """(file bytes, how it was made, the pixel array written or None); ``kind`` (one of
    :data:`KINDS`) is drawn when not given."""
    if kind is None:
        kind = draw(st.sampled_from(KINDS))
    h, w = draw(sizes)
    buf = io.BytesIO()
    arr: np.ndarray | None = None
    if kind in ("P", "L", "L01", "I;16"):
        dtype = np.uint16 if kind == "I;16" else np.uint8
        top = 65535 if kind == "I;16" else 255
        values = st.sampled_from([0, 255]) if kind == "L01" else st.integers(
            0, draw(st.sampled_from([3, 255, top])))
        arr = draw(hnp.arrays(dtype, (h, w), elements=values))
        im = Image.fromarray(arr, mode="P" if kind == "P" else None)
        if kind == "P":
            im.putpalette(DAVIS_PALETTE.reshape(-1).tolist())
        im.save(buf, format="PNG")
    elif kind == "1":
        arr = draw(hnp.arrays(np.bool_, (h, w)))
        Image.fromarray(arr).save(buf, format="PNG")
    elif kind in ("RGB-palette", "RGBA-palette"):
        ids = draw(hnp.arrays(np.uint8, (h, w), elements=st.integers(0, 255)))
        rgb = DAVIS_PALETTE[ids]
        if kind == "RGBA-palette":
            alpha = draw(hnp.arrays(np.uint8, (h, w)))
            rgb = np.dstack([rgb, alpha])
        Image.fromarray(rgb).save(buf, format="PNG")
        arr = ids
    elif kind in ("RGB", "LA"):
        shape = (h, w, 3 if kind == "RGB" else 2)
        Image.fromarray(draw(hnp.arrays(np.uint8, shape))).save(buf, format="PNG")
    elif kind == "other-format":
        fmt = draw(st.sampled_from(["JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM"]))
        mode = draw(st.sampled_from(["L", "RGB", "P", "F", "I", "CMYK"]))
        im = Image.fromarray(draw(hnp.arrays(np.uint8, (h, w)))).convert(mode)
        try:
            im.save(buf, format=fmt)
        except (OSError, ValueError, KeyError):
            buf = io.BytesIO(b"")
    elif kind == "huge":
        big = st.integers(1, 2 ** 31 - 1)
        buf.write(_png_with_size(draw(big), draw(big)))
    elif kind == "truncated":
        Image.fromarray(draw(hnp.arrays(np.uint8, (h, w)))).save(buf, format="PNG")
        raw = buf.getvalue()
        return raw[: draw(st.integers(0, len(raw) - 1))], kind, None
    else:
        return draw(st.binary(max_size=300)), kind, None
    return buf.getvalue(), kind, arr


@pytest.mark.parametrize("long", LEVELS)
@pytest.mark.parametrize("kind", KINDS)
def test_read_mask_gives_a_label_map_or_one_line(kind: str, long: bool) -> None:
    """Any file under a ``.png`` name: an (H, W) uint8 label map that matches what was
    written, or a one-line error."""
    @fuzz_settings(long, ci=8)
    @given(case=mask_files(kind))
    def check(case: tuple[bytes, str, np.ndarray | None]) -> None:
        raw, kind, arr = case
        count(f"masks/read_mask ({kind})")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "mask.png"
            path.write_bytes(raw)
            got = library_outcome(read_mask, path)
        if isinstance(got, GazevosError):
            assert kind not in ("P", "L", "L01", "1", "RGB-palette", "RGBA-palette"), got
            if kind == "I;16":
                assert arr is not None and arr.max() > 255, got
            return
        assert got.dtype == np.uint8 and got.ndim == 2
        if arr is not None:
            assert got.shape == arr.shape
            if kind == "L01" or (kind in ("L", "I;16") and set(np.unique(arr)) <= {0, 255}):
                np.testing.assert_array_equal(got, (arr == 255).astype(np.uint8))
            elif kind == "1":
                np.testing.assert_array_equal(got, arr.astype(np.uint8))
            else:
                np.testing.assert_array_equal(got, arr)

    check()


@pytest.mark.parametrize("long", LEVELS)
def test_write_then_read_mask_round_trips(long: bool) -> None:
    """Any (H, W) uint8 label map survives write_mask + read_mask unchanged."""
    @fuzz_settings(long, ci=30)
    @given(labels=hnp.arrays(np.uint8, sizes))
    def check(labels: np.ndarray) -> None:
        count("masks/round-trip")
        with tempfile.TemporaryDirectory() as tmp:
            write_mask(Path(tmp) / "m.png", labels)
            np.testing.assert_array_equal(read_mask(Path(tmp) / "m.png"), labels)

    check()


@pytest.mark.parametrize("long", LEVELS)
def test_read_image_and_frame_folders(long: bool) -> None:
    """Image files of any kind as frames, alone (read_image) and as a folder of frames
    (open_frames + iteration, frames of mixed sizes included): (H, W, 3) uint8 frames or a
    one-line error."""
    @fuzz_settings(long, ci=40)
    @given(cases=st.lists(mask_files(), min_size=1, max_size=3))
    def check(cases: list[tuple[bytes, str, np.ndarray | None]]) -> None:
        count("frames/images")
        with tempfile.TemporaryDirectory() as tmp:
            for i, (raw, _kind, _arr) in enumerate(cases):
                (Path(tmp) / f"{i:05d}.png").write_bytes(raw)
            img = library_outcome(read_image, Path(tmp) / "00000.png")
            if not isinstance(img, GazevosError):
                assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3

            def frames() -> list[np.ndarray]:
                return [f.image for f in open_frames(tmp)]

            got = library_outcome(frames)
            if not isinstance(got, GazevosError):
                assert len(got) == len(cases)
                assert all(f.shape == got[0].shape and f.dtype == np.uint8 for f in got)

    check()


@pytest.fixture(scope="module")
def video_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A valid 12-frame 64x48 MP4."""
    path = builders.write_video(tmp_path_factory.mktemp("video") / "v.mp4")
    return path.read_bytes()


@pytest.mark.parametrize("long", LEVELS)
def test_damaged_video_frames_or_one_line(video_bytes: bytes, long: bool) -> None:
    """A valid MP4 truncated, with flipped bytes, or replaced by random bytes: decoding gives
    (48, 64, 3) frames with rising times, or a one-line error."""
    @fuzz_settings(long, ci=30)
    @given(op=st.sampled_from(["truncate", "flip", "random", "suffix"]), data=st.data())
    def check(op: str, data: st.DataObject) -> None:
        count(f"frames/video ({op})")
        raw = bytearray(video_bytes)
        name = "v.mp4"
        if op == "truncate":
            raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
        elif op == "flip":
            for _ in range(data.draw(st.integers(1, 20))):
                raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
        elif op == "random":
            raw = bytearray(data.draw(st.binary(max_size=500)))
        else:
            name = data.draw(st.sampled_from(["v.avi", "v", "v.MP4", "v.txt"]))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(bytes(raw))

            def decode() -> list[tuple[tuple[int, ...], float]]:
                return [(f.image.shape, f.time) for f in open_frames(path)]

            got = library_outcome(decode)
            if not isinstance(got, GazevosError):
                assert all(shape == (48, 64, 3) for shape, _ in got)
                times = [t for _, t in got]
                assert times == sorted(times)

    check()


def test_overlong_mask_and_frame_paths_are_one_line_errors(tmp_path: Path) -> None:
    """Names past the system limit or with a NUL byte: one-line errors, not OSError."""
    for bad in ["m" * 5000 + ".png", tmp_path / ("m" * 300 + ".png"), "a\x00b.png"]:
        for fn in (read_mask, read_image, open_frames):
            assert isinstance(library_outcome(fn, bad), GazevosError)


@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 5_000), (2 ** 31 - 1, 1)],
                         ids=["bomb", "warning-range", "one-huge-row"])
def test_huge_declared_size_is_refused_before_decoding(tmp_path: Path,
                                                       size: tuple[int, int]) -> None:
    """A PNG header declaring more than 8192 x 8192 pixels: a one-line error at once (before
    the fix: PIL's DecompressionBombError, or a decode of up to 178 M pixels)."""
    path = tmp_path / "m.png"
    path.write_bytes(_png_with_size(*size))
    for fn in (read_mask, read_image):
        got = library_outcome(fn, path)
        assert isinstance(got, GazevosError) and "pixels" in str(got), got


def test_video_with_a_damaged_timestamp_is_a_one_line_error(video_bytes: bytes,
                                                            tmp_path: Path) -> None:
    """Found by the long fuzz run: one flipped bit (byte 1629 of the builder's MP4) made
    frame 8 come out at 0.8 s before frame 9 at 0.7 s; frames are now refused when their
    time goes backwards, the order every consumer relies on."""
    raw = bytearray(video_bytes)
    raw[1629] ^= 1
    path = tmp_path / "v.mp4"
    path.write_bytes(bytes(raw))
    got = library_outcome(lambda: [f.time for f in open_frames(path)])
    assert isinstance(got, GazevosError) or got == sorted(got), got
