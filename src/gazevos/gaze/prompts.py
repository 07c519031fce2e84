"""Objects to annotate, as the user gives them: a mask, a box or a point on some frame.

A *prompt* names one object, the frame where it is first given, and how it is given:

* ``mask.png@FRAME``: a palette (or 0/255) PNG whose ids are the objects at frame ``FRAME``;
* ``--box "name:x0,y0,x1,y1@FRAME"``: the object lies inside the box (pixels, corners
  inclusive-exclusive, top-left origin); its mask is cut out of the box by GrabCut
  (:func:`box_to_mask`);
* ``--point "name:x,y@FRAME"``: the object is under the point; its mask grows from the point
  by region growing and GrabCut (:func:`point_to_mask`).

Box and point prompts turn into masks on the frame they name, when the pipeline reaches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gazevos.errors import GazevosError

_NAME = r"(?P<name>[^:@]+)"
_NUM = r"[-+]?\d+(?:\.\d*)?"
_AT = r"\s*(?:@\s*(?P<frame>\d+))?$"
_BOX_RE = re.compile(rf"^{_NAME}:\s*(?P<coords>{_NUM}(?:\s*,\s*{_NUM}){{3}}){_AT}")
_POINT_RE = re.compile(rf"^{_NAME}:\s*(?P<coords>{_NUM}\s*,\s*{_NUM}){_AT}")
#: Smallest video ``(width, height)`` gazevos tracks: OpenCV's DIS optical flow refuses frames
#: under 12 px (the ``flow`` tracker halves them first) and the ``classic`` tracker crashed
#: (segmentation fault) on a 40x4 video.
MIN_VIDEO_SIZE = (32, 32)


@dataclass(frozen=True)
class ObjectPrompt:
    """One object to track, and where it is first given.

    Attributes:
        object_id: label id in the output masks (1..254).
        name: display name.
        frame: 0-based index of the frame the prompt refers to.
        kind: ``"mask"``, ``"box"`` or ``"point"``.
        box: ``(x0, y0, x1, y1)`` pixels for ``kind == "box"``.
        point: ``(x, y)`` pixels for ``kind == "point"``.
        mask_path: the PNG for ``kind == "mask"`` (the object is its pixels equal to
            ``object_id``).
    """

    object_id: int
    name: str
    frame: int
    kind: str
    box: tuple[float, float, float, float] | None = None
    point: tuple[float, float] | None = None
    mask_path: Path | None = None


def parse_names(spec: str | None) -> dict[int, str]:
    """Parse ``"1=bleach,2=naruto"`` into ``{1: "bleach", 2: "naruto"}``."""
    out: dict[int, str] = {}
    if not spec:
        return out
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, name = part.partition("=")
        if not sep or not key.strip().isdigit() or not name.strip():
            raise GazevosError(f"bad --names entry '{part}' (expected ID=NAME, e.g. 1=cup)")
        out[int(key)] = name.strip()
    return out


def _frame_of(m: re.Match[str]) -> int:
    return int(m.group("frame")) if m.group("frame") is not None else 0


def parse_box(spec: str, object_id: int) -> ObjectPrompt:
    """Parse ``"name:x0,y0,x1,y1@frame"`` (``@frame`` optional, default 0)."""
    m = _BOX_RE.match(spec.strip())
    if not m:
        raise GazevosError(f"bad --box '{spec}' (expected NAME:X0,Y0,X1,Y1@FRAME)")
    x0, y0, x1, y1 = (float(v) for v in m.group("coords").split(","))
    if x1 <= x0 or y1 <= y0:
        raise GazevosError(f"--box '{spec}' is empty (need x0 < x1 and y0 < y1)")
    return ObjectPrompt(object_id, m.group("name").strip(), _frame_of(m), "box",
                        box=(x0, y0, x1, y1))


def parse_point(spec: str, object_id: int) -> ObjectPrompt:
    """Parse ``"name:x,y@frame"`` (``@frame`` optional, default 0)."""
    m = _POINT_RE.match(spec.strip())
    if not m:
        raise GazevosError(f"bad --point '{spec}' (expected NAME:X,Y@FRAME)")
    x, y = (float(v) for v in m.group("coords").split(","))
    return ObjectPrompt(object_id, m.group("name").strip(), _frame_of(m), "point", point=(x, y))


def parse_mask_spec(spec: str) -> tuple[Path, int]:
    """Parse ``"mask.png@FRAME"`` (``@FRAME`` optional, default 0) into (path, frame)."""
    path, sep, frame = spec.rpartition("@")
    if not sep:
        return Path(spec), 0
    if not frame.strip().isdigit():
        raise GazevosError(f"bad --objects '{spec}' (expected MASK.png@FRAME)")
    return Path(path), int(frame)


def build_prompts(objects: str | None = None, names: str | None = None,
                  boxes: tuple[str, ...] | list[str] = (),
                  points: tuple[str, ...] | list[str] = ()) -> list[ObjectPrompt]:
    """All prompts of a command line, with ids: mask ids first, then boxes, then points.

    Args:
        objects: ``"mask.png@FRAME"`` or None.
        names: ``"1=a,2=b"`` names for the mask ids (default ``object<ID>``).
        boxes: ``"name:x0,y0,x1,y1@frame"`` specs, in order (ids after the mask's).
        points: ``"name:x,y@frame"`` specs, in order (ids after the boxes').

    Raises:
        GazevosError: no object at all, unreadable mask, malformed spec, or a repeated name.
    """
    from gazevos.io import read_mask
    from gazevos.io.masks import object_ids

    prompts: list[ObjectPrompt] = []
    id_names = parse_names(names)
    if objects:
        path, frame = parse_mask_spec(objects)
        ids = object_ids(read_mask(path))
        if not ids:
            raise GazevosError("mask holds no object (all background)", path)
        unknown = sorted(set(id_names) - set(ids))
        if unknown:
            raise GazevosError(f"--names gives id {unknown[0]} that is not in the mask", path)
        prompts += [ObjectPrompt(i, id_names.get(i, f"object{i}"), frame, "mask", mask_path=path)
                    for i in ids]
    elif id_names:
        raise GazevosError("--names needs --objects MASK.png@FRAME")
    next_id = max((p.object_id for p in prompts), default=0) + 1
    for spec in boxes:
        prompts.append(parse_box(spec, next_id))
        next_id += 1
    for spec in points:
        prompts.append(parse_point(spec, next_id))
        next_id += 1
    if not prompts:
        raise GazevosError("no object given: pass --objects MASK.png@FRAME, --box or --point")
    if next_id > 255:
        raise GazevosError("too many objects (at most 254)")
    seen: set[str] = set()
    for p in prompts:
        if p.name in seen:
            raise GazevosError(f"object name '{p.name}' is given twice")
        seen.add(p.name)
    return prompts


def check_video_size(size: tuple[int, int], video: str | Path | None = None) -> None:
    """Refuse a video smaller than :data:`MIN_VIDEO_SIZE` (the trackers fail on it).

    Args:
        size: video ``(width, height)``.
        video: the video file, named in the message.

    Raises:
        GazevosError: ``the video is 8x8 pixels; gazevos needs at least 32x32``.
    """
    w, h = size
    mw, mh = MIN_VIDEO_SIZE
    if w < mw or h < mh:
        raise GazevosError(f"the video is {w}x{h} pixels; gazevos needs at least {mw}x{mh} "
                           "(optical flow and tracking fail on smaller frames)", video)


def check_prompts(prompts: list[ObjectPrompt], size: tuple[int, int], n_frames: int,
                  video: str | Path | None = None) -> None:
    """Check prompts against the video: its size (:func:`check_video_size`), frames in
    range, boxes and points inside the frame.

    Args:
        size: video ``(width, height)``.
        n_frames: number of video frames.
        video: the video file, named in messages about its size.
    """
    check_video_size(size, video)
    w, h = size
    for p in prompts:
        what = f"object '{p.name}'"
        if not 0 <= p.frame < n_frames:
            raise GazevosError(f"{what} is given at frame {p.frame}, but the video has "
                               f"frames 0..{n_frames - 1}")
        if p.box is not None:
            x0, y0, x1, y1 = p.box
            if not (0 <= x0 and 0 <= y0 and x1 <= w and y1 <= h):  # NaN fails too
                raise GazevosError(f"{what}: box {x0:g},{y0:g},{x1:g},{y1:g} is outside the "
                                   f"{w}x{h} frame")
            if not (x1 - x0 >= 2 and y1 - y0 >= 2):
                raise GazevosError(f"{what}: box is smaller than 2x2 pixels")
        if p.point is not None:
            x, y = p.point
            if not (0 <= x < w and 0 <= y < h):
                raise GazevosError(f"{what}: point {x:g},{y:g} is outside the {w}x{h} frame")


#: GrabCut runs on at most this many pixels: a larger crop is downscaled for it and the
#: answer upscaled: a box over a person at 1080p took 2.6 s, now 0.4 s; on 20 DAVIS-2016 boxes
#: (bounding boxes of the truth on frames 0 and 20) mean IoU 0.667 full size, 0.685 so)
GRABCUT_MAX_PIXELS = 80_000


def _grabcut(image: np.ndarray, init: np.ndarray | None, rect: tuple[int, int, int, int] | None,
             iterations: int, max_pixels: int = GRABCUT_MAX_PIXELS) -> np.ndarray:
    """Run OpenCV GrabCut; returns the ``(H, W)`` bool foreground.

    An image of more than ``max_pixels`` pixels is downscaled for GrabCut (area
    interpolation; the ``init`` labels and ``rect`` with it) and the foreground upscaled
    back.  GrabCut's k-means start draws from OpenCV's process-wide random generator; it
    is seeded here so that the same prompt gives the same mask whatever ran before."""
    h, w = image.shape[:2]
    s = min(1.0, float(np.sqrt(max_pixels / (h * w)))) if max_pixels > 0 else 1.0
    sw, sh = max(2, round(w * s)), max(2, round(h * s))
    if (sw, sh) != (w, h):
        image = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        if init is not None:
            init = cv2.resize(init, (sw, sh), interpolation=cv2.INTER_NEAREST)
        if rect is not None:
            x, y, rw, rh = rect
            fx, fy = sw / w, sh / h
            x0, y0 = int(np.floor(x * fx)), int(np.floor(y * fy))
            x1 = min(sw, max(x0 + 1, int(np.ceil((x + rw) * fx))))
            y1 = min(sh, max(y0 + 1, int(np.ceil((y + rh) * fy))))
            rect = (x0, y0, x1 - x0, y1 - y0)
    cv2.setRNGSeed(0)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    if init is None:
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.grabCut(bgr, mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    else:
        mask = init.copy()
        cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    if fg.shape != (h, w):
        fg = cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    return fg


def box_to_mask(image: np.ndarray, box: tuple[float, float, float, float],
                iterations: int = 5, margin: float = 0.5) -> np.ndarray:
    """Cut the object out of a box with GrabCut.

    GrabCut (Rother et al. 2004, ``cv2.grabCut``) learns a colour model of the background
    from a ring around the box (``margin`` times the box size on each side, at least 16
    px, clipped to the frame) and of the object from inside the box, then labels the box
    pixels by graph cut.  Only a crop around the box is processed (fast, and the
    background model stays local).  If GrabCut keeps nothing (e.g. a box that fills the
    frame, leaving no background to learn), the whole box is the mask.

    Args:
        image: ``(H, W, 3)`` uint8 RGB frame.
        box: ``(x0, y0, x1, y1)`` pixels, inside the frame.

    Returns:
        ``(H, W)`` bool mask, never empty, never outside the box.
    """
    h, w = image.shape[:2]
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    mx = max(16, int(margin * (x1 - x0)))
    my = max(16, int(margin * (y1 - y0)))
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
    out = np.zeros((h, w), dtype=bool)
    fg = np.zeros(crop.shape[:2], dtype=bool)
    has_bg = (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1)
    if has_bg and crop.std() > 0:
        fg = _grabcut(crop, None, (x0 - cx0, y0 - cy0, x1 - x0, y1 - y0), iterations)
    if fg.any():
        out[cy0:cy1, cx0:cx1] = fg
    out[:, :x0] = out[:, x1:] = False
    out[:y0] = out[y1:] = False
    if not out.any():
        out[y0:y1, x0:x1] = True
    return out


def point_to_mask(image: np.ndarray, point: tuple[float, float], window: float = 0.25,
                  color_diff: int = 20, iterations: int = 4) -> np.ndarray:
    """Grow the object under a point: colour region growing, then GrabCut.

    1. In a square window centred on the point (half-side ``window`` times the frame's
       smaller side, at least 16 px), start from the pixel near the point (within 3 % of
       the frame's smaller side, at least 6 px) whose colour is the most common there
       (most pixels within ``color_diff``), so that a click on a small detail (a dot, a
       letter stroke) still starts on the object's main colour.  Flood-fill from there
       over the pixels whose CIE-Lab colour (after a 3x3 blur) differs by at most
       ``color_diff`` per channel from that start pixel's (``cv2.floodFill``, fixed
       range, 8-connected; a floating range leaks through anti-aliased edges) and fill
       the holes of that region: the *seed region*.
    2. GrabCut in that window starting from: a 3-px disc at the point and the start pixel
       = object, the seed region = probably object, the window border = background, the
       rest = probably background.  A seed region that covers more than half of the
       window border is taken as background, not object, so it only seeds the disc.
    3. The connected component that holds the point is the mask.

    Works best on objects of one main colour that stands out from their surround (a ball,
    a book cover): on the synthetic demo scene it recovers the ball and the book with IoU
    0.99 and 0.91, but only one stripe of the red-and-white mug.  For multi-coloured
    objects give a box or a mask.

    Args:
        image: ``(H, W, 3)`` uint8 RGB frame.
        point: ``(x, y)`` pixels inside the frame.

    Returns:
        ``(H, W)`` bool mask holding the point.
    """
    h, w = image.shape[:2]
    px = min(w - 1, max(0, int(round(point[0]))))
    py = min(h - 1, max(0, int(round(point[1]))))
    half = max(16, int(window * min(h, w)))
    wx0, wy0 = max(0, px - half), max(0, py - half)
    wx1, wy1 = min(w, px + half + 1), min(h, py + half + 1)
    crop = np.ascontiguousarray(image[wy0:wy1, wx0:wx1])
    ch, cw = crop.shape[:2]
    lx, ly = px - wx0, py - wy0
    lab = cv2.cvtColor(cv2.GaussianBlur(crop, (3, 3), 0), cv2.COLOR_RGB2LAB)
    r = max(6, int(0.03 * min(h, w)))
    yy, xx = np.mgrid[max(0, ly - r):min(ch, ly + r + 1), max(0, lx - r):min(cw, lx + r + 1)]
    near = (yy - ly) ** 2 + (xx - lx) ** 2 <= r * r
    yy, xx = yy[near], xx[near]
    colours = lab[yy, xx].astype(np.int16)
    cand = np.arange(0, len(colours), max(1, len(colours) // 400))  # bound the cost
    close = np.abs(colours[cand, None, :] - colours[None, :, :]).max(axis=2) <= color_diff
    j = int(cand[np.argmax(close.sum(axis=1))])  # the most common colour (a mode)
    sx, sy = int(xx[j]), int(yy[j])
    ff = np.zeros((ch + 2, cw + 2), np.uint8)
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    cv2.floodFill(lab, ff, (sx, sy), 0, (color_diff,) * 3, (color_diff,) * 3, flags)
    seed = ff[1:-1, 1:-1].copy()
    contours, _ = cv2.findContours(seed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(seed, contours, -1, 1, -1)
    seed = seed.astype(bool)
    border = np.zeros((ch, cw), dtype=bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    image_edge = np.zeros((ch, cw), dtype=bool)  # window sides that are frame sides
    image_edge[0, :] = wy0 == 0
    image_edge[-1, :] = wy1 == h
    image_edge[:, 0] = wx0 == 0
    image_edge[:, -1] = wx1 == w
    inner_border = border & ~image_edge
    leaks = inner_border.any() and (seed & inner_border).sum() > 0.5 * inner_border.sum()
    init = np.full((ch, cw), cv2.GC_PR_BGD, np.uint8)
    if not leaks:
        init[seed] = cv2.GC_PR_FGD
    init[inner_border] = cv2.GC_BGD
    disc = np.zeros((ch, cw), np.uint8)
    cv2.circle(disc, (lx, ly), 3, 1, -1)
    init[disc.astype(bool)] = cv2.GC_FGD
    init[sy, sx] = cv2.GC_FGD
    fg = seed.copy()
    has_bg = bool(((init == cv2.GC_BGD) | (init == cv2.GC_PR_BGD)).any())
    if crop.std() > 0 and has_bg:
        try:
            fg = _grabcut(crop, init, None, iterations)
        except cv2.error:
            fg = seed.copy()
    fg[ly, lx] = True
    n, comp = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    fg = comp == comp[ly, lx]
    out = np.zeros((h, w), dtype=bool)
    out[wy0:wy1, wx0:wx1] = fg
    return out


def prompt_mask(prompt: ObjectPrompt, image: np.ndarray) -> np.ndarray:
    """The ``(H, W)`` bool mask of one prompt on its frame's ``(H, W, 3)`` RGB image."""
    from gazevos.io import read_mask

    if prompt.kind == "box":
        assert prompt.box is not None
        return box_to_mask(image, prompt.box)
    if prompt.kind == "point":
        assert prompt.point is not None
        return point_to_mask(image, prompt.point)
    assert prompt.mask_path is not None
    labels = read_mask(prompt.mask_path)
    if labels.shape != image.shape[:2]:
        raise GazevosError(f"mask size {labels.shape[1]}x{labels.shape[0]} differs from the "
                           f"video's {image.shape[1]}x{image.shape[0]}", prompt.mask_path)
    return labels == prompt.object_id


def prompts_label_map(prompts: list[ObjectPrompt], image: np.ndarray) -> np.ndarray:
    """The ``(H, W)`` uint8 label map of all ``prompts`` (all of one frame) on ``image``.

    Later prompts win where two overlap (masks first, then boxes, then points, in order).
    """
    labels = np.zeros(image.shape[:2], dtype=np.uint8)
    for p in prompts:
        labels[prompt_mask(p, image)] = p.object_id
    return labels
