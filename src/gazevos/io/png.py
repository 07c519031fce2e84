"""Fast paths for the commonest mask file: an 8-bit palette PNG with unfiltered rows.

Pillow spends about 6 ms on a 1920x1080 palette PNG (2-3 ms inflating, as much again
turning the image into an array); the masks that gazevos writes (and DAVIS's annotations)
are 8-bit palette images whose rows carry PNG filter 0, so the indices are the inflated
rows minus their filter byte: about 1.4 ms.  :func:`palette_indices` does that and answers
None for anything else (other colour types or depths, interlacing, a filtered row, a bad
chunk checksum, a size that does not add up), which the caller then hands to Pillow: the
fast path never decides what a file means, it only takes the plainest case.

:func:`encode_palette_png` writes that case: unfiltered rows deflated by ISA-L (the
``isal`` package; the standard ``zlib`` where it is missing), about 0.3 ms for a
1920x1080 mask against 3.5 ms for Pillow's encoder, in a file about half the size
(docs/experiments/speed.md, session 14).  Any PNG reader opens it.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

try:  # ISA-L's deflate: the same zlib streams, many times faster at level 1
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - a dependency, but an environment may lack it
    _deflate = zlib  # type: ignore[assignment]

__all__ = ["encode_palette_png", "palette_indices"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body)))


def encode_palette_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """The bytes of an 8-bit palette PNG of ``indices``, every row with filter 0.

    Args:
        indices: ``(H, W)`` uint8 palette indices (H, W >= 1).
        palette: ``(P, 3)`` uint8 colours, 1 <= P <= 256.

    Returns:
        A complete PNG file (signature, IHDR, PLTE, one IDAT, IEND) that
        :func:`palette_indices` and every PNG decoder read back as ``indices``.
    """
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.dtype != np.uint8 or 0 in indices.shape:
        raise ValueError(f"indices must be a non-empty (H, W) uint8 array, got "
                         f"{indices.dtype} {indices.shape}")
    pal = np.ascontiguousarray(palette, dtype=np.uint8)
    if pal.ndim != 2 or pal.shape[1] != 3 or not 1 <= pal.shape[0] <= 256:
        raise ValueError(f"palette must be (P <= 256, 3), got {pal.shape}")
    h, w = indices.shape
    rows = np.zeros((h, w + 1), dtype=np.uint8)
    rows[:, 1:] = indices
    header = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"PLTE", pal.tobytes()),
                     _chunk(b"IDAT", _deflate.compress(rows.data, 1)), _chunk(b"IEND", b"")))


def palette_indices(data: bytes, max_pixels: int) -> np.ndarray | None:
    """``(H, W)`` uint8 palette indices of a PNG file's bytes, or None (use a full decoder).

    Args:
        data: the whole file.
        max_pixels: images with more pixels are left to the full decoder (which refuses
            them with its own message).

    Returns:
        A writable ``(H, W)`` uint8 array when ``data`` is a non-interlaced 8-bit palette
        PNG whose chunks check out and whose rows all use filter 0; None otherwise.
    """
    if not data.startswith(_SIGNATURE):
        return None
    pos, end = len(_SIGNATURE), len(data)
    header: tuple[int, ...] | None = None
    idat: list[bytes] = []
    while pos + 12 <= end:
        (n,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4: pos + 8]
        body_end = pos + 8 + n
        if body_end + 4 > end:
            return None
        (crc,) = struct.unpack_from(">I", data, body_end)
        if kind in (b"IHDR", b"IDAT") and zlib.crc32(data[pos + 4: body_end]) != crc:
            return None
        body = data[pos + 8: body_end]
        if kind == b"IHDR":
            if n != 13:
                return None
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos = body_end + 4
    else:
        return None    # no IEND
    if header is None or not idat:
        return None
    w, h, depth, colour, compression, filtering, interlace = header
    if (depth, colour, compression, filtering, interlace) != (8, 3, 0, 0, 0):
        return None
    if w == 0 or h == 0 or w * h > max_pixels:
        return None
    size = h * (w + 1)
    inflater = _deflate.decompressobj()
    try:        # at most one byte more than the header promises (no zip bomb)
        raw = inflater.decompress(b"".join(idat), size + 1)
    except (zlib.error, _deflate.error):
        return None
    if len(raw) != size or not inflater.eof:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(h, w + 1)
    if rows[:, 0].any():       # a filtered row: leave the arithmetic to the full decoder
        return None
    return rows[:, 1:].copy()
