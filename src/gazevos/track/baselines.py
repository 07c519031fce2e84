"""Baseline trackers that need no model: ``copy`` and ``flow`` (DIS optical-flow warp)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gazevos.track.base import Prediction, Tracker


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

    Attributes:
        flow_scale: frames are resized by this factor before optical flow (speed).
        dis_preset: OpenCV DIS preset: ``ultrafast``, ``fast`` or ``medium``.
    """

    flow_scale: float = 0.5
    dis_preset: str = "medium"


_DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


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
    flow = dis.calc(cur_gray, prev_gray, None)
    h, w = size
    if flow.shape[:2] != (h, w):
        sy, sx = h / flow.shape[0], w / flow.shape[1]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= sx
        flow[..., 1] *= sy
    return flow


def warp(prob: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp a previous-frame ``(H, W)`` map into the current frame with a backward flow."""
    h, w = prob.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(prob.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class FlowTracker(Tracker):
    """Warp each object's previous probability map with DIS optical flow."""

    name = "flow"
    config_cls = FlowConfig

    def __init__(self, config: FlowConfig | None = None) -> None:
        super().__init__()
        self.config = config or FlowConfig()
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.config.dis_preset])
        self._prev_gray: np.ndarray | None = None
        self._prev: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        super().reset()
        self._prev_gray = None
        self._prev = {}

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        s = self.config.flow_scale
        if s != 1.0:
            g = cv2.resize(g, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        return g

    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        gray = self._gray(frame)
        flow = backward_flow(self._dis, self._prev_gray, gray, frame.shape[:2])
        return {i: warp(self._prev[i], flow) for i in self.object_ids}

    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        self._prev_gray = self._gray(frame)
        self._prev = {i: pred.prob(i) for i in pred.object_ids}
