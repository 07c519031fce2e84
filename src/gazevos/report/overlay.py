"""Overlay frames: tracked masks in DAVIS colours, object names, gaze and fixations.

:func:`draw_overlay` draws one frame; :class:`OverlayRenderer` keeps the style and the
object names for a whole video.  Colours follow :data:`gazevos.io.DAVIS_PALETTE`, so the
overlay matches the palette PNGs written beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from gazevos.io.masks import DAVIS_PALETTE, VOID

#: gaze-dot colours (RGB) by mapping result: on an object, near one, on none, invalid.
HIT_COLORS: dict[str, tuple[int, int, int]] = {
    "inside": (0, 255, 80),
    "near": (255, 210, 0),
    "none": (255, 255, 255),
    "invalid": (150, 150, 150),
}


@dataclass(frozen=True)
class GazeMark:
    """One gaze sample to draw.

    Attributes:
        x, y: pixels, top-left origin (may be outside the frame or NaN: then not drawn).
        hit: ``"inside"``, ``"near"``, ``"none"`` or ``"invalid"`` (sets the colour).
    """

    x: float
    y: float
    hit: str = "none"


@dataclass(frozen=True)
class FixationMark:
    """The fixation in progress at a frame.

    Attributes:
        x, y: fixation centre, pixels.
        fixation_id: its id.
        label: what it is on (object name, or empty).
    """

    x: float
    y: float
    fixation_id: int
    label: str = ""


@dataclass(frozen=True)
class OverlayStyle:
    """How overlays look.

    Attributes:
        alpha: opacity of the mask colour over the frame.
        contour_px: object outline width (0: none).
        gaze_radius_px: radius of the gaze dot of the frame's last sample.
        trail_radius_px: radius of the dots of the frame's other samples.
    """

    alpha: float = 0.45
    contour_px: int = 2
    gaze_radius_px: int = 6
    trail_radius_px: int = 2


def _font_scale(height: int) -> float:
    return max(0.4, height / 720.0 * 0.8)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float,
          fg: tuple[int, int, int], bg: tuple[int, int, int] | None) -> None:
    """Draw text whose top-left corner is ``org``, on a filled box if ``bg`` is given."""
    thick = max(1, int(round(scale * 1.6)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    h, w = img.shape[:2]
    x = int(min(max(0, org[0]), max(0, w - tw - 4)))
    y = int(min(max(0, org[1]), max(0, h - th - base - 4)))
    if bg is not None:
        cv2.rectangle(img, (x, y), (x + tw + 4, y + th + base + 4), bg, -1)
    cv2.putText(img, text, (x + 2, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, fg, thick,
                cv2.LINE_AA)


def _ink(color: np.ndarray) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``color``."""
    lum = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return (0, 0, 0) if lum > 140 else (255, 255, 255)


def draw_overlay(image: np.ndarray, labels: np.ndarray | None,
                 names: Mapping[int, str] | None = None,
                 gaze: Sequence[GazeMark] = (), tolerance_px: float | None = None,
                 fixation: FixationMark | None = None, header: str | None = None,
                 style: OverlayStyle | None = None) -> np.ndarray:
    """Draw masks, names, gaze and fixation on a copy of a frame.

    Args:
        image: ``(H, W, 3)`` uint8 RGB frame.
        labels: ``(H, W)`` uint8 object ids (0 background, 255 void) or None.
        names: object id -> name, written at the top-left of each object.
        gaze: the frame's gaze samples in time order; the last one is drawn large with a
            circle of radius ``tolerance_px`` around it, the others as small dots.
        tolerance_px: radius of the tolerance circle (None: no circle).
        fixation: the fixation in progress, drawn as a ring with its id and label.
        header: one line of text at the top-left (frame, time, looked-at object...).
        style: :class:`OverlayStyle` (default look if None).

    Returns:
        ``(H, W, 3)`` uint8 RGB overlay.
    """
    style = style or OverlayStyle()
    names = names or {}
    out = np.array(image, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    scale = _font_scale(h)
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.uint8)
        sel = cv2.inRange(labels, 1, VOID - 1)      # 255 on object pixels
        # the objects' bounding box: colouring and outlines work inside it only
        x0, y0, bw, bh = cv2.boundingRect(sel)
        roi = (slice(y0, y0 + bh), slice(x0, x0 + bw))
        lab = labels[roi]
        counts = (cv2.calcHist([lab], [0], None, [256], [0, 256]).ravel() if lab.size
                  else np.zeros(256))
        ids = [int(i) for i in np.flatnonzero(counts) if 0 < i < VOID]
        if ids:
            colour = cv2.LUT(cv2.merge([lab, lab, lab]),
                             DAVIS_PALETTE.reshape(256, 1, 3))  # palette[labels]
            blend = cv2.addWeighted(out[roi], 1.0 - style.alpha, colour, style.alpha, 0.0)
            cv2.copyTo(blend, sel[roi], out[roi])
        for i in ids:
            m = (lab == i).astype(np.uint8)
            c = tuple(int(v) for v in DAVIS_PALETTE[i])
            if style.contour_px > 0:
                contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                               offset=(x0, y0))
                cv2.drawContours(out, contours, -1, c, style.contour_px, cv2.LINE_AA)
            bx, by, _, _ = cv2.boundingRect(m)
            bx, by = bx + x0, by + y0
            name = names.get(i, str(i))
            _text(out, name, (bx, by - int(28 * scale)), scale * 0.8, _ink(DAVIS_PALETTE[i]), c)
    if fixation is not None and np.isfinite(fixation.x) and np.isfinite(fixation.y):
        fx, fy = int(round(fixation.x)), int(round(fixation.y))
        r = int(max(10, (tolerance_px or 10) * 1.6))
        cv2.circle(out, (fx, fy), r, (255, 0, 255), 2, cv2.LINE_AA)
        cv2.drawMarker(out, (fx, fy), (255, 0, 255), cv2.MARKER_CROSS, r // 2, 1, cv2.LINE_AA)
        label = f"F{fixation.fixation_id}" + (f" {fixation.label}" if fixation.label else "")
        _text(out, label, (fx + r, fy - r), scale * 0.6, (255, 255, 255), (120, 0, 120))
    marks = [g for g in gaze if np.isfinite(g.x) and np.isfinite(g.y)]
    for g in marks[:-1]:
        cv2.circle(out, (int(round(g.x)), int(round(g.y))), style.trail_radius_px,
                   HIT_COLORS.get(g.hit, HIT_COLORS["none"]), -1, cv2.LINE_AA)
    if marks:
        g = marks[-1]
        gx, gy = int(round(g.x)), int(round(g.y))
        c = HIT_COLORS.get(g.hit, HIT_COLORS["none"])
        if tolerance_px is not None and tolerance_px > 0:
            cv2.circle(out, (gx, gy), int(round(tolerance_px)), c, 1, cv2.LINE_AA)
        cv2.circle(out, (gx, gy), style.gaze_radius_px + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(out, (gx, gy), style.gaze_radius_px, c, -1, cv2.LINE_AA)
    if header:
        _text(out, header, (4, 4), scale * 0.7, (255, 255, 255), (0, 0, 0))
    return out


class OverlayRenderer:
    """Draw overlays for one video with fixed names, tolerance and style.

    Args:
        names: object id -> name.
        style: :class:`OverlayStyle`.
    """

    def __init__(self, names: Mapping[int, str], style: OverlayStyle | None = None) -> None:
        self.names = dict(names)
        self.style = style or OverlayStyle()

    def __call__(self, image: np.ndarray, labels: np.ndarray | None,
                 gaze: Sequence[GazeMark] = (), tolerance_px: float | None = None,
                 fixation: FixationMark | None = None, header: str | None = None) -> np.ndarray:
        """See :func:`draw_overlay`."""
        return draw_overlay(image, labels, self.names, gaze, tolerance_px, fixation, header,
                            self.style)
