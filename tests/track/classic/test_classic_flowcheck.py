"""The flow checks of ``classic`` (``gazevos.track.classic.flowcheck``), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gazevos.track.classic.flowcheck import (
    inconsistent,
    photometric_inconsistent,
    warp_error,
    warped_difference,
)

H, W = 20, 30


def _maps(dx: float = 0.0, dy: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    return gx + dx, gy + dy


def test_warp_error_with_no_motion_is_the_frame_difference():
    prev = np.full((H, W), 100, np.uint8)
    gray = prev.copy()
    gray[5:10, 10:20] = 140                       # 50 pixels changed by 40
    inside = np.zeros((H, W), np.float32)
    inside[5:10, 10:20] = 0.9
    elsewhere = np.zeros((H, W), np.float32)
    elsewhere[12:15, 0:5] = 1.0
    diff = warped_difference(gray, prev, *_maps())      # no motion: the frame difference
    whole, worst = warp_error(diff, [elsewhere, inside])
    assert whole == pytest.approx(40 * 50 / (H * W))
    assert worst == pytest.approx(40.0)           # the changed object's, not the other's
    assert warp_error(diff, [elsewhere]) == (pytest.approx(whole), 0.0)
    assert warp_error(diff, [])[1] == 0.0


def test_warp_error_follows_the_flow():
    rng = np.random.default_rng(0)
    prev = rng.integers(0, 256, (H, W), dtype=np.uint8)
    gray = np.roll(prev, 3, axis=1)               # everything moved 3 px right ...
    gray[:, :3] = prev[:, :1]                     # ... and the edge replicated in
    following = warped_difference(gray, prev, *_maps(-3.0))    # sampling 3 px left
    assert warp_error(following, [])[0] == 0.0
    assert warp_error(warped_difference(gray, prev, *_maps()), [])[0] > 30


def test_forward_backward_check():
    mx, my = _maps(-2.0)                          # backward flow: 2 px to the left
    back = np.zeros((H, W, 2), np.float32)
    back[..., 0] = -2.0
    fwd = np.zeros((H, W, 2), np.float32)
    fwd[..., 0] = 2.0                             # undoes it: consistent everywhere
    assert not inconsistent(fwd, back, mx, my, 0.01, 0.5).any()
    fwd[:] = 0.0                                  # does not: |0 - 2|^2 = 4 > 0.01 * 4 + 0.5
    assert inconsistent(fwd, back, mx, my, 0.01, 0.5).all()
    assert not inconsistent(fwd, back, mx, my, 0.01, 4.5).any()   # within the tolerance


def test_photometric_check_by_hand():
    rng = np.random.default_rng(1)
    prev = rng.integers(0, 200, (H, W), dtype=np.uint8)
    gray = np.roll(prev, 2, axis=1)               # moved 2 px right, edge replicated in
    gray[:, :2] = prev[:, :1]
    gray[4:8, 20:25] += 30                        # 20 pixels brightened by 30 (uncovered)
    gray[12, 5] += 10                             # one pixel by 10
    diff = warped_difference(gray, prev, *_maps(-2.0))      # following the flow
    bad = photometric_inconsistent(diff, 20.0)
    assert bad.sum() == 20 and bad[4:8, 20:25].all()
    assert photometric_inconsistent(diff, 5.0).sum() == 21
    assert photometric_inconsistent(diff, 30.0).sum() == 0   # > not >=
    wrong = warped_difference(gray, prev, *_maps())          # a wrong flow
    assert photometric_inconsistent(wrong, 20.0).sum() > 100
