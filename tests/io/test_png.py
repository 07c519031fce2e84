"""The palette-PNG fast path agrees with Pillow, and leaves everything else to it."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazevos.errors import GazevosError
from gazevos.io import png
from gazevos.io.masks import DAVIS_PALETTE, read_mask, write_mask
from gazevos.io.png import palette_indices

BIG = 10**9


def _labels(h: int = 37, w: int = 53, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lab = np.zeros((h, w), np.uint8)
    lab[5:20, 10:40] = 1
    lab[rng.random((h, w)) > 0.9] = 3
    lab[0, :] = 255
    return lab


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(rows: np.ndarray, w: int, h: int, depth: int = 8, colour: int = 3,
         interlace: int = 0) -> bytes:
    """A PNG made by hand from ``rows`` (``(h, w + 1)``, filter byte first)."""
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))
            + _chunk(b"PLTE", DAVIS_PALETTE[:4].tobytes())
            + _chunk(b"IDAT", zlib.compress(rows.tobytes()))
            + _chunk(b"IEND", b""))


def test_masks_written_by_gazevos_take_the_fast_path(tmp_path: Path) -> None:
    lab = _labels()
    write_mask(tmp_path / "m.png", lab)
    data = (tmp_path / "m.png").read_bytes()
    got = palette_indices(data, BIG)
    assert got is not None and got.flags.writeable
    np.testing.assert_array_equal(got, lab)
    with Image.open(io.BytesIO(data)) as im:      # the same as Pillow's answer
        np.testing.assert_array_equal(np.array(im), got)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), lab)


def test_hand_made_unfiltered_palette_png() -> None:
    lab = _labels(4, 6)
    rows = np.concatenate([np.zeros((4, 1), np.uint8), lab], axis=1)
    data = _png(rows, 6, 4)
    np.testing.assert_array_equal(palette_indices(data, BIG), lab)
    assert palette_indices(data, 23) is None          # more pixels than allowed


@pytest.mark.parametrize("case", ["filtered", "grey", "16-bit", "interlaced", "bad crc",
                                  "short", "long", "no png", "truncated zlib", "no iend"])
def test_everything_else_is_left_to_pillow(case: str) -> None:
    lab = _labels(4, 6)
    rows = np.concatenate([np.zeros((4, 1), np.uint8), lab], axis=1)
    if case == "filtered":
        rows[2, 0] = 1                                # row 2 uses the Sub filter
    data = _png(rows, 6, 4, depth=16 if case == "16-bit" else 8,
                colour=0 if case == "grey" else 3, interlace=int(case == "interlaced"))
    if case == "bad crc":
        i = data.index(b"IDAT") + 6
        data = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
    elif case == "short":
        data = _png(rows[:3], 6, 4)                  # one row fewer than the header says
    elif case == "long":                             # far more data than the header says
        data = _png(np.zeros((4000, 7), np.uint8), 6, 4)
    elif case == "no png":
        data = b"GIF89a" + data[8:]
    elif case == "truncated zlib":
        body = zlib.compress(rows.tobytes())[:-6]
        data = data[: data.index(b"IDAT") - 4] + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    elif case == "no iend":
        data = data[: data.index(b"IEND") - 4]
    assert palette_indices(data, BIG) is None


def test_read_mask_falls_back_to_pillow(tmp_path: Path, monkeypatch) -> None:
    lab = _labels()
    im = Image.fromarray(lab, mode="P")
    im.putpalette(DAVIS_PALETTE.reshape(-1).tolist())
    im.save(tmp_path / "interlaced.png", interlace=1)     # Adam7: not the fast path
    calls = []
    fast = png.palette_indices
    monkeypatch.setattr("gazevos.io.masks.palette_indices",
                        lambda *a: calls.append(1) or fast(*a))
    np.testing.assert_array_equal(read_mask(tmp_path / "interlaced.png"), lab)
    assert calls == [1]
    Image.fromarray(np.where(lab == 1, 255, 0).astype(np.uint8)).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "grey.png"), (lab == 1).astype(np.uint8))


def test_damaged_file_still_gets_the_one_line_error(tmp_path: Path) -> None:
    write_mask(tmp_path / "m.png", _labels())
    data = bytearray((tmp_path / "m.png").read_bytes())
    i = data.index(b"IDAT") + 10
    data[i: i + 8] = b"\x00" * 8                      # damaged pixel data, bad checksum
    (tmp_path / "m.png").write_bytes(bytes(data))
    with pytest.raises(GazevosError, match="cannot read mask image"):
        read_mask(tmp_path / "m.png")


@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (37, 53), (480, 854)])
def test_encoded_png_reads_back_with_pillow_opencv_and_the_fast_path(shape) -> None:
    import cv2

    lab = _labels(*shape, seed=3)
    data = png.encode_palette_png(lab, DAVIS_PALETTE)
    np.testing.assert_array_equal(palette_indices(data, BIG), lab)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.array(im), lab)
        pal = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
        np.testing.assert_array_equal(pal[:4], DAVIS_PALETTE[:4])
    # OpenCV applies the palette: the colour of each pixel is its id's DAVIS colour
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(bgr[..., ::-1], DAVIS_PALETTE[lab])


def test_encoded_png_is_a_zlib_stream_the_standard_library_inflates() -> None:
    lab = _labels(9, 11)
    data = png.encode_palette_png(lab, DAVIS_PALETTE[:4])
    # IDAT starts after the signature (8), IHDR (25) and PLTE (12 + 12 bytes)
    (n,) = struct.unpack_from(">I", data, 8 + 25 + 24)
    assert data[8 + 25 + 24 + 4: 8 + 25 + 24 + 8] == b"IDAT"
    raw = zlib.decompress(data[8 + 25 + 24 + 8: 8 + 25 + 24 + 8 + n])
    rows = np.frombuffer(raw, np.uint8).reshape(9, 12)
    assert not rows[:, 0].any()
    np.testing.assert_array_equal(rows[:, 1:], lab)


def test_encoder_refuses_what_is_not_a_palette_image() -> None:
    with pytest.raises(ValueError, match="uint8"):
        png.encode_palette_png(np.zeros((3, 3), np.int32), DAVIS_PALETTE)
    with pytest.raises(ValueError, match="non-empty"):
        png.encode_palette_png(np.zeros((0, 3), np.uint8), DAVIS_PALETTE)
    with pytest.raises(ValueError, match="palette"):
        png.encode_palette_png(np.zeros((3, 3), np.uint8), np.zeros((300, 3), np.uint8))


def test_encoder_without_isal_writes_the_same_image(monkeypatch) -> None:
    lab = _labels(40, 70, seed=5)
    monkeypatch.setattr(png, "_deflate", zlib)          # the fallback when isal is missing
    data = png.encode_palette_png(lab, DAVIS_PALETTE)
    np.testing.assert_array_equal(palette_indices(data, BIG), lab)
    with Image.open(io.BytesIO(data)) as im:
        np.testing.assert_array_equal(np.array(im), lab)
