"""Baseline trackers that need no model: ``copy`` and ``flow`` (DIS optical-flow warp)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gazevos.config import setting
from gazevos.errors import GazevosError
from gazevos.track.base import Prediction, Tracker
from gazevos.track.dis import DIS_PRESETS, dis_flow


class CopyTracker(Tracker):
    """Repeat the last given mask of each object on every later frame."""

    name = "copy"

    def __init__(self) -> None:
        super().__init__()
        self._masks: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        super().reset()
        self._masks = {}

    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        return {i: self._masks[i] for i in self.object_ids}

    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        for i in given:
            self._masks[i] = pred.prob(i).copy()


@dataclass(frozen=True)
class FlowConfig:
    """Settings of the ``flow`` tracker.

    The defaults were chosen on the DAVIS-2016 dev split
    (docs/experiments/classic-flow.md) for >= 25
    frames/s at 480p on 2 CPU cores: DIS on half-size frames down to the finest pyramid
    level, no variational refinement (it smooths the flow across object boundaries,
    which costs more accuracy than it brings), hard masks remembered.

    Attributes:
        flow_scale: frames are resized by this factor before optical flow (speed).
        dis_preset: OpenCV DIS preset the settings below start from: ``ultrafast``,
            ``fast`` or ``medium``.
        finest_scale: DIS finest pyramid level (0: the resized frame; -1: the preset's).
        patch_stride: DIS patch stride in pixels (-1: the preset's).
        grad_iters: DIS gradient-descent iterations per patch (-1: the preset's).
        refine_iters: DIS variational refinement iterations (-1: the preset's).
        patch_size: DIS patch size in pixels (-1: the preset's).
        binarize: remember each frame's hard labels (one-hot) instead of its soft
            probabilities, so that bilinear warping does not blur the masks over time.
    """

    flow_scale: float = setting(0.5, ge=0.05, le=1.0)
    dis_preset: str = setting("medium", choices=("ultrafast", "fast", "medium"))
    finest_scale: int = setting(0, ge=-1, le=10)
    patch_stride: int = setting(4, ge=-1, le=64)
    grad_iters: int = setting(12, ge=-1, le=1000)
    refine_iters: int = setting(0, ge=-1, le=100)
    patch_size: int = setting(-1, ge=2, le=64, also=(-1, 0))
    binarize: bool = True

    def __post_init__(self) -> None:
        """OpenCV's DIS crashes (segmentation fault) when the stride exceeds the patch."""
        patch = self.patch_size if self.patch_size > 0 else 8  # 8: every preset's patch
        if self.patch_stride > patch:
            raise ValueError(f"patch_stride ({self.patch_stride}) must not exceed the patch "
                             f"size ({patch})")


def make_dis(cfg: FlowConfig) -> cv2.DISOpticalFlow:
    """An OpenCV DIS optical-flow object with the settings of ``cfg``.

    Raises:
        GazevosError: unknown preset or ``flow_scale`` outside (0, 1].
    """
    if cfg.dis_preset not in DIS_PRESETS:
        raise GazevosError(f"unknown dis_preset '{cfg.dis_preset}' "
                           f"(choose from {', '.join(DIS_PRESETS)})")
    if not 0 < cfg.flow_scale <= 1:
        raise GazevosError(f"flow_scale must be in (0, 1], got {cfg.flow_scale}")
    return dis_flow(cfg.dis_preset, cfg.finest_scale, cfg.patch_size, cfg.patch_stride,
                    cfg.grad_iters, cfg.refine_iters)


def flow_gray(frame: np.ndarray, scale: float) -> np.ndarray:
    """Grey copy of an RGB ``frame`` resized by ``scale`` (area interpolation), the
    input of :func:`backward_flow`."""
    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        g = cv2.resize(g, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return g


def backward_flow(dis: cv2.DISOpticalFlow, prev_gray: np.ndarray, cur_gray: np.ndarray,
                  size: tuple[int, int]) -> np.ndarray:
    """Flow from the current frame back to the previous one, at full resolution.

    Args:
        dis: an OpenCV DIS optical-flow object.
        prev_gray, cur_gray: ``(h, w)`` uint8 grey images (possibly downscaled).
        size: full ``(H, W)``.

    Returns:
        ``(H, W, 2)`` float32 displacement (dx, dy) in full-resolution pixels: pixel (x, y)
        of the current frame came from (x + dx, y + dy) of the previous frame.
    """
    try:
        flow = dis.calc(cur_gray, prev_gray, None)
    except cv2.error as exc:
        h, w = cur_gray.shape[:2]
        raise GazevosError(f"optical flow failed on a {w}x{h} work image (too small for the "
                           "DIS patch: raise flow_scale or lower patch_size)") from exc
    return upscale_flow(flow, size)


def upscale_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(h, w, 2)`` flow to ``size = (H, W)``, scaling the vectors to match."""
    h, w = size
    if flow.shape[:2] == (h, w):
        return flow
    # scale the vectors at low resolution (cheaper), then upsample
    flow = flow * np.array([w / flow.shape[1], h / flow.shape[0]], dtype=np.float32)
    return cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)


def pixel_grid(h: int, w: int) -> np.ndarray:
    """``(H, W, 2)`` float32 pixel coordinates ``(x, y)``."""
    grid = np.empty((h, w, 2), dtype=np.float32)
    grid[..., 0] = np.arange(w, dtype=np.float32)[None, :]
    grid[..., 1] = np.arange(h, dtype=np.float32)[:, None]
    return grid


def sampling_map(flow: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """``(H, W, 2)`` float32 absolute source coordinates ``(x + dx, y + dy)`` of a flow.

    ``grid`` (from :func:`pixel_grid`) may be passed to avoid rebuilding it.
    """
    if grid is None:
        grid = pixel_grid(*flow.shape[:2])
    return np.add(grid, flow, dtype=np.float32)


def warp(prob: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp a previous-frame ``(H, W)`` map into the current frame with a backward flow.

    ``flow`` is ``(H, W, 2)`` (dx, dy); pixels sampled from outside the image become 0.
    """
    return warp_with_map(prob, sampling_map(flow))


def warp_with_map(prob: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinear sampling of ``(H, W)`` ``prob`` at ``(H, W, 2)`` absolute ``coords``."""
    return cv2.remap(prob.astype(np.float32, copy=False), coords, None,
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)


class FlowTracker(Tracker):
    """Warp each object's previous mask with DIS optical flow (current -> previous frame)."""

    name = "flow"
    config_cls = FlowConfig
    transient = ("_dis",)

    def _rebuild_transient(self) -> None:
        self._dis = make_dis(self.config)  # DIS keeps no state between calls

    def __init__(self, config: FlowConfig | None = None) -> None:
        super().__init__()
        self.config = config or FlowConfig()
        self._dis = make_dis(self.config)
        self._prev_gray: np.ndarray | None = None
        self._prev: dict[int, np.ndarray] = {}
        self._gray_of: tuple[np.ndarray, np.ndarray] | None = None
        self._grid: np.ndarray | None = None

    def reset(self) -> None:
        super().reset()
        self._prev_gray = None
        self._prev = {}
        self._gray_of = None

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        """Grey, downscaled copy of ``frame`` (computed once per frame)."""
        if self._gray_of is not None and self._gray_of[0] is frame:
            return self._gray_of[1]
        g = flow_gray(frame, self.config.flow_scale)
        self._gray_of = (frame, g)
        return g

    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        gray = self._gray(frame)
        h, w = frame.shape[:2]
        flow = backward_flow(self._dis, self._prev_gray, gray, (h, w))
        if self._grid is None or self._grid.shape[:2] != (h, w):
            self._grid = pixel_grid(h, w)
        coords = sampling_map(flow, self._grid)
        return {i: warp_with_map(self._prev[i], coords) for i in self.object_ids}

    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        self._prev_gray = self._gray(frame)
        self._gray_of = None
        if self.config.binarize:
            labels = pred.labels
            self._prev = {i: (labels == i).astype(np.float32) for i in pred.object_ids}
        else:
            self._prev = {i: pred.prob(i) for i in pred.object_ids}
