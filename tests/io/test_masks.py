"""DAVIS palette masks: round trips, grey 0/255 masks, RGB images, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazevos.errors import GazevosError
from gazevos.io.masks import DAVIS_PALETTE, object_ids, read_mask, write_mask


def test_palette_known_colours() -> None:
    assert DAVIS_PALETTE.shape == (256, 3)
    assert DAVIS_PALETTE[0].tolist() == [0, 0, 0]
    assert DAVIS_PALETTE[1].tolist() == [128, 0, 0]
    assert DAVIS_PALETTE[2].tolist() == [0, 128, 0]
    assert DAVIS_PALETTE[3].tolist() == [128, 128, 0]
    assert DAVIS_PALETTE[4].tolist() == [0, 0, 128]
    assert DAVIS_PALETTE[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in DAVIS_PALETTE.tolist()}) == 256


def test_round_trip_ids_and_void(tmp_path: Path) -> None:
    labels = np.zeros((12, 20), np.uint8)
    for i in range(1, 11):
        labels[i, :i + 1] = i
    labels[-1, :] = 255                       # void
    labels[0, -3:] = 254
    path = tmp_path / "m.png"
    write_mask(path, labels)
    with Image.open(path) as im:
        assert im.mode == "P"
        pal = np.array(im.getpalette()[:768]).reshape(-1, 3)
    np.testing.assert_array_equal(pal, DAVIS_PALETTE)
    back = read_mask(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, labels)
    assert object_ids(back) == [*range(1, 11), 254]
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]   # no temporary left


def test_write_rejects_bad_labels(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_mask(tmp_path / "a.png", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError):
        write_mask(tmp_path / "b.png", np.full((2, 3), 300))
    assert not list(tmp_path.iterdir())


def test_written_masks_have_normal_permissions(tmp_path: Path) -> None:
    write_mask(tmp_path / "m.png", np.zeros((3, 3), np.uint8))
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "m.png").stat().st_mode & 0o777 == 0o666 & ~mask


def test_grey_0_255_is_object_one(tmp_path: Path) -> None:
    grey = np.zeros((5, 6), np.uint8)
    grey[1:3, 2:5] = 255
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    m = read_mask(tmp_path / "g.png")
    np.testing.assert_array_equal(m, (grey == 255).astype(np.uint8))
    # all-background grey mask stays empty
    Image.fromarray(np.zeros((5, 6), np.uint8), mode="L").save(tmp_path / "z.png")
    assert not read_mask(tmp_path / "z.png").any()


def test_grey_with_small_values_are_ids(tmp_path: Path) -> None:
    grey = np.array([[0, 1, 2], [3, 255, 0]], np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "g.png"), grey)


def test_16_bit_grey(tmp_path: Path) -> None:
    ok = np.array([[0, 1], [2, 0]], np.uint16)
    Image.fromarray(ok).save(tmp_path / "ok.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "ok.png"), ok)
    Image.fromarray(np.array([[0, 300]], np.uint16)).save(tmp_path / "big.png")
    with pytest.raises(GazevosError, match="300"):
        read_mask(tmp_path / "big.png")


def test_rgb_palette_image(tmp_path: Path) -> None:
    ids = np.array([[0, 1, 2], [3, 255, 1]], np.uint8)
    Image.fromarray(DAVIS_PALETTE[ids], mode="RGB").save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), ids)
    rgba = np.concatenate([DAVIS_PALETTE[ids], np.full((*ids.shape, 1), 255, np.uint8)], -1)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgba.png"), ids)


def test_rgb_with_foreign_colour_is_an_error(tmp_path: Path) -> None:
    img = DAVIS_PALETTE[np.zeros((3, 3), np.uint8)].copy()
    img[1, 1] = (1, 2, 3)
    Image.fromarray(img, mode="RGB").save(tmp_path / "bad.png")
    with pytest.raises(GazevosError, match=r"\(1, 2, 3\)"):
        read_mask(tmp_path / "bad.png")


def test_unreadable_and_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(GazevosError) as err:
        read_mask(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(GazevosError, match="not found"):
        read_mask(tmp_path / "missing.png")
