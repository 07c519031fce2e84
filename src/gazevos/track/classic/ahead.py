"""Work that the ``classic`` tracker can do before a frame's step: its DIS optical-flow
objects, and :class:`Lookahead`, the work-grid image, grey image and backward flow of the
next frames, made in the thread that decodes them (``track_pass`` calls
:meth:`~gazevos.track.classic.tracker.ClassicTracker.prepare`).

The flow of a frame depends only on its grey image and the previous one's, not on any
tracking state, so it can be computed while the tracker still works on the previous frame.
A step uses what was prepared only for the very image object it is given, and the flow only
when the grey image it was computed against is the tracker's previous one (the same
object): anything else (a seek, a resumed pass, frames skipped) is computed in the step as
before, so the results never depend on the lookahead.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from gazevos.track.base import shrink
from gazevos.track.classic.config import ClassicConfig
from gazevos.track.dis import dis_flow


def make_dis(cfg: ClassicConfig, preset: str = "same") -> cv2.DISOpticalFlow:
    """A DIS object with ``cfg``'s flow settings (``preset``: another preset, as is, without
    refinement).  DIS keeps no state between calls, so two such objects give equal flows."""
    if preset != "same":
        return dis_flow(preset, refine_iterations=0)
    return dis_flow(cfg.dis_preset, cfg.dis_finest_scale, patch_stride=cfg.dis_patch_stride,
                    descent_iterations=cfg.dis_descent_iterations,
                    refine_iterations=cfg.dis_refine_iterations)


@dataclass(frozen=True)
class Prepared:
    """One frame made ready ahead of its step.

    Attributes:
        image: the frame ``(H, W, 3)`` it was made from (compared by identity).
        small: ``(h, w, 3)`` uint8, the frame on the work grid.
        gray: ``(h, w)`` uint8 grey work-grid image.
        prev: the grey image of the frame prepared before it (None for the first).
        flow: ``(h, w, 2)`` float32 backward flow from ``gray`` to ``prev`` (None without
            ``prev`` or when the sizes differ).
    """

    image: np.ndarray
    small: np.ndarray
    gray: np.ndarray
    prev: np.ndarray | None
    flow: np.ndarray | None


class Lookahead:
    """Frames prepared in order by one thread and taken by the tracker's.

    Args:
        dis: the DIS object of this thread (not the tracker's: the two run at once).
        work_size: ``frame -> (h, w)`` of its work grid.
        depth: at most this many prepared frames are kept (the oldest drop out).
    """

    def __init__(self, dis: cv2.DISOpticalFlow,
                 work_size: Callable[[np.ndarray], tuple[int, int]], depth: int = 16) -> None:
        self._dis = dis
        self._work_size = work_size
        self._items: deque[Prepared] = deque(maxlen=depth)
        self._last: np.ndarray | None = None
        self._lock = threading.Lock()

    def prepare(self, image: np.ndarray) -> None:
        """Make ``image``'s work-grid images and its flow to the previously prepared frame."""
        h, w = self._work_size(image)
        small = image if (h, w) == image.shape[:2] else shrink(image, (w, h))
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        prev = self._last
        flow = (self._dis.calc(gray, prev, None)
                if prev is not None and prev.shape == gray.shape else None)
        self._last = gray
        with self._lock:
            self._items.append(Prepared(image, small, gray, prev, flow))

    def take(self, image: np.ndarray) -> Prepared | None:
        """What was prepared for this very ``image`` (dropping older frames), or None."""
        with self._lock:
            for k, item in enumerate(self._items):
                if item.image is image:
                    for _ in range(k + 1):
                        self._items.popleft()
                    return item
        return None
