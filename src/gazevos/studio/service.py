"""What the studio does, as plain functions the HTTP layer and the CLI both call.

A :class:`Studio` is an open project with its recording: the frames (random access), the
gaze, the tracker and settings.  Everything a user does in the page is one function here:

* :func:`preview_mask`: the mask of a prompt (positive/negative points, a box, a brushed
  mask) on a frame, computed on a frame scaled to at most :data:`PREVIEW_MAX_SIDE` pixels
  and scaled back (what the page shows is what a keyframe stores);
* :func:`add_object`, :func:`update_object`, :func:`delete_object`;
* :func:`set_keyframe`: a prompt for one object at a frame makes that frame a keyframe
  whose label map is the frame's current labels with the object replaced; returns the
  frames it affects (:func:`gazevos.track.keyframes.affected_range`);
* :func:`track`: label frames from the keyframes in both directions
  (:func:`gazevos.track.keyframes.track_keyframes`), all of them or only a range;
* :func:`timeline`: per object and frame, visible / low-confidence / lost / keyframe;
* :func:`set_override`: this fixation is on object X / on nothing;
* :func:`tables` (gaze, fixations, metrics with the overrides) and :mod:`.export`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gazevos.errors import GazevosError
from gazevos.gaze.annotate import AnnotateConfig, GazeTables, gaze_tables, recording_fingerprint
from gazevos.gaze.prompts import box_to_mask, check_video_size, point_to_mask
from gazevos.io.masks import read_mask, write_mask
from gazevos.studio.project import ObjectRow, Project

#: frames are scaled down to at most this many pixels on their longer side for a preview
#: (GrabCut's cost grows with the area: at 1080p a point takes ~1.1 s of CPU at full size,
#: ~0.1 s at 640 px, with the same IoU on the demo objects; BENCHMARKS.md "Studio")
PREVIEW_MAX_SIDE = 640
#: a tracked object whose confidence is below this is shown as doubtful in the timeline
LOW_CONFIDENCE = 0.5
#: timeline states, one character per frame
STATES = {"untracked": "-", "visible": "v", "low": "c", "lost": "l", "keyframe": "k"}
DEFAULT_STUDIO_TRACKER = "classic"


@dataclass
class Prompt:
    """What a user gave for one object on one frame.

    Attributes:
        points: ``(x, y, positive)`` in frame pixels.
        box: ``(x0, y0, x1, y1)`` pixels, or None.
        brush: an ``(H, W)`` bool mask painted by the user, or None.
        erase: with ``brush``: remove the painted pixels from the object's current mask
            instead of adding them.
    """

    points: list[tuple[float, float, bool]] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    brush: np.ndarray | None = None
    erase: bool = False

    @property
    def kind(self) -> str:
        """``brush``, ``box`` or ``points`` (the keyframe kind)."""
        return "brush" if self.brush is not None else "box" if self.box is not None else "points"

    def payload(self) -> dict[str, Any]:
        """The JSON stored with the keyframe (a brushed mask is stored as the keyframe map)."""
        return {"points": [[x, y, bool(p)] for x, y, p in self.points],
                "box": None if self.box is None else list(self.box), "erase": self.erase}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prompt:
        """From the page's JSON (``points: [[x, y, 1|0]]``, ``box: [x0, y0, x1, y1]``)."""
        try:
            pts = [(float(x), float(y), bool(p)) for x, y, p in data.get("points") or []]
            box = data.get("box")
            box = None if box is None else tuple(float(v) for v in box)
            if box is not None and len(box) != 4:
                raise ValueError
        except (TypeError, ValueError):
            raise GazevosError("a prompt is points [[x, y, 1|0], ...] and/or a box "
                               "[x0, y0, x1, y1]") from None
        return cls(pts, box, None, bool(data.get("erase", False)))  # type: ignore[arg-type]


def _check_prompt(prompt: Prompt, size: tuple[int, int]) -> None:
    w, h = size
    if prompt.brush is None and prompt.box is None and not any(p for *_, p in prompt.points):
        raise GazevosError("a prompt needs a positive point, a box or a brushed mask")
    for x, y, _ in prompt.points:
        if not (0 <= x < w and 0 <= y < h) or not (np.isfinite(x) and np.isfinite(y)):
            raise GazevosError(f"point {x:g},{y:g} is outside the {w}x{h} frame")
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise GazevosError(f"box {x0:g},{y0:g},{x1:g},{y1:g} is not inside the {w}x{h} "
                               "frame")
    if prompt.brush is not None and prompt.brush.shape != (h, w):
        raise GazevosError(f"brushed mask is {prompt.brush.shape[1]}x{prompt.brush.shape[0]}, "
                           f"the frame {w}x{h}")


def prompt_mask(image: np.ndarray, prompt: Prompt, current: np.ndarray | None = None,
                max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
    """The ``(H, W)`` bool mask of a prompt on an ``(H, W, 3)`` RGB frame.

    Box: GrabCut in the box (:func:`gazevos.gaze.prompts.box_to_mask`); positive points:
    grown from each (:func:`gazevos.gaze.prompts.point_to_mask`) and added; negative
    points: the region grown from each is removed (the pixels under positive points stay).
    Computed on the frame scaled down to ``max_side`` pixels and scaled back (nearest).
    A brushed mask is added to (or, ``erase``, removed from) ``current``, the object's
    mask on this frame.
    """
    h, w = image.shape[:2]
    _check_prompt(prompt, (w, h))
    if prompt.brush is not None:
        base = np.zeros((h, w), bool) if current is None else current.astype(bool)
        return base & ~prompt.brush if prompt.erase else base | prompt.brush
    s = min(1.0, max_side / max(h, w))
    small = image if s == 1.0 else cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                                              interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]

    def pt(x: float, y: float) -> tuple[float, float]:
        return min(sw - 1.0, x * s), min(sh - 1.0, y * s)

    mask = np.zeros((sh, sw), bool)
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        bx = (x0 * s, y0 * s, max(x0 * s + 2, x1 * s), max(y0 * s + 2, y1 * s))
        bx = (bx[0], bx[1], min(float(sw), bx[2]), min(float(sh), bx[3]))
        mask |= box_to_mask(small, bx)
    keep = np.zeros((sh, sw), bool)
    for x, y, positive in prompt.points:
        if positive:
            mask |= point_to_mask(small, pt(x, y))
            px, py = pt(x, y)
            keep[int(py), int(px)] = True
    for x, y, positive in prompt.points:
        if not positive:
            mask &= ~point_to_mask(small, pt(x, y))
    mask |= keep
    if s != 1.0:
        mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    return mask


# ----------------------------------------------------------------------------- the studio
class Studio:
    """An open project with its recording (see :func:`open_studio`)."""

    def __init__(self, project: Project, recording: Any, n_frames: int, frames: Any,
                 geometry: Any, display: Any = None) -> None:
        self.project = project
        self.rec = recording
        self.n_frames = n_frames
        self.frames = frames  # tracking reads these, in order
        self.display = display if display is not None else frames  # the page's frames
        self.geometry = geometry
        self.lock = threading.RLock()
        self._tables: GazeTables | None = None

    @property
    def size(self) -> tuple[int, int]:
        """Video ``(width, height)``."""
        return tuple(self.rec.resolution)  # type: ignore[return-value]

    @property
    def tracker_name(self) -> str:
        """The project's tracker."""
        return str(self.project.get_meta("tracker", DEFAULT_STUDIO_TRACKER))

    @property
    def config(self) -> AnnotateConfig:
        """The project's gaze settings."""
        return AnnotateConfig(**self.project.get_meta("settings", {}))

    @property
    def fps(self) -> float:
        """Frames per second from the frame times."""
        t = np.asarray(self.rec.frame_times, float)
        return float(1.0 / np.median(np.diff(t))) if len(t) > 1 else 30.0

    def invalidate(self) -> None:
        """Forget the cached gaze tables (after any change)."""
        self._tables = None

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3)`` uint8 RGB."""
        if not 0 <= index < self.n_frames:
            raise GazevosError(f"frame {index} is outside 0..{self.n_frames - 1}")
        return self.display.get(index)

    def labels(self, index: int) -> np.ndarray | None:
        """The tracked label map of a frame (keyframes: their map), None when untracked."""
        kf = self.project.keyframe_labels(index)
        if kf is not None:
            return kf
        path = self.project.masks_dir / f"{index:05d}.png"
        if self.project.is_tracked(index) and path.is_file():
            return read_mask(path)
        return None


def open_studio(recording: str | os.PathLike[str] | None, project_dir: str | os.PathLike[str],
                tracker: str | None = None, recording_format: str | None = None) -> Studio:
    """Open (or create) the project in ``project_dir`` for ``recording``.

    Args:
        recording: the recording folder (None: the project's own).
        project_dir: the project folder (created when new).
        tracker: the tracker to use from now on (None: the project's, else classic).

    Raises:
        GazevosError: an unreadable recording, a project of another recording or of a
            changed recording, an unknown tracker.
    """
    from gazevos.gaze.geometry import CameraGeometry
    from gazevos.gaze.sync import check_frame_count
    from gazevos.io.frame_reader import open_frame_reader
    from gazevos.io.recordings import read_recording
    from gazevos.track import TRACKERS

    if recording is None:
        project = Project(project_dir)
        recording = project.recording
        project.close()
    rec = read_recording(recording, format=recording_format)
    if rec.video_path is None:
        raise GazevosError("recording has no scene video to annotate", rec.root)
    check_video_size(tuple(rec.resolution), rec.video_path)
    project = Project(project_dir, recording, recording_fingerprint(rec))
    if tracker is not None:
        if tracker not in TRACKERS:
            raise GazevosError(f"unknown tracker '{tracker}' (choose from "
                               f"{', '.join(TRACKERS)})")
        if project.get_meta("tracker") != tracker:
            project.set_meta("tracker", tracker, "set tracker")
    n_frames, _ = check_frame_count(rec)
    frames = open_frame_reader(rec.video_path)
    n_frames = min(n_frames, len(frames))
    display = None  # a reader of its own, so page seeks never break a tracking pass
    if Path(rec.video_path).is_file():
        from gazevos.studio.proxy import DisplayFrames

        display = DisplayFrames(rec.video_path, project.root, n_frames)
    return Studio(project, rec, n_frames, frames, CameraGeometry.from_recording(rec),
                  display)


# ----------------------------------------------------------------------------- objects
def add_object(studio: Studio, name: str, colour: str | None = None) -> ObjectRow:
    """A new object (it gets a mask when a keyframe gives it one)."""
    studio.invalidate()
    return studio.project.add_object(name, colour)


def update_object(studio: Studio, object_id: int, name: str | None = None,
                  colour: str | None = None) -> ObjectRow:
    """Rename and/or recolour an object."""
    studio.invalidate()
    return studio.project.update_object(object_id, name, colour)


def delete_object(studio: Studio, object_id: int) -> None:
    """Delete an object (its keyframe prompts, overrides; its pixels become background).

    Every frame is marked untracked: the masks on disk still hold the object until the
    next tracking pass (which the page offers, and an export runs first)."""
    with studio.lock:
        studio.project.delete_object(object_id)
        studio.project.clear_tracked(0, studio.n_frames)
        studio.invalidate()


# ----------------------------------------------------------------------------- keyframes
def preview_mask(studio: Studio, frame: int, object_id: int | None, prompt: Prompt
                 ) -> np.ndarray:
    """The ``(H, W)`` bool mask ``prompt`` gives on ``frame`` (nothing is stored)."""
    current = None
    if prompt.brush is not None and object_id is not None:
        labels = studio.labels(frame)
        current = None if labels is None else labels == object_id
    return prompt_mask(studio.frame(frame), prompt, current)


def set_keyframe(studio: Studio, frame: int, object_id: int, prompt: Prompt) -> tuple[int, int]:
    """Make ``frame`` a keyframe: its current labels (tracked, or the keyframe's own) with
    ``object_id`` replaced by the prompt's mask.

    Returns:
        ``(start, stop)``: the frames the change affects (to re-track).
    """
    from gazevos.track.keyframes import affected_range

    with studio.lock:
        studio.project.object(object_id)
        labels = studio.labels(frame)
        if labels is None and studio.project.keyframe_frames():
            # not tracked yet: label it from its neighbouring keyframes first, so that the
            # other objects stay in the new keyframe's map
            track_into(studio, studio.project.masks_dir, (frame, frame + 1), record=True)
            labels = studio.labels(frame)
        labels = np.zeros(studio.frame(frame).shape[:2], np.uint8) if labels is None else labels
        mask = preview_mask(studio, frame, object_id, prompt)
        if not mask.any():
            raise GazevosError(f"the prompt gives an empty mask on frame {frame}")
        out = np.where(labels == object_id, 0, labels).astype(np.uint8)
        out[mask] = object_id
        studio.project.set_keyframe(frame, object_id, prompt.kind, prompt.payload(), out)
        studio.invalidate()
        return affected_range(studio.project.keyframe_frames(), frame, studio.n_frames)


def delete_keyframe(studio: Studio, frame: int) -> tuple[int, int]:
    """Remove keyframe ``frame``; returns the frames to re-track."""
    from gazevos.track.keyframes import affected_range

    with studio.lock:
        studio.project.delete_keyframe(frame)
        studio.invalidate()
        if not studio.project.keyframe_frames():  # nothing left to track from
            studio.project.clear_tracked(0, studio.n_frames)
        return affected_range(studio.project.keyframe_frames(), frame, studio.n_frames)


# ----------------------------------------------------------------------------- tracking
def keyframe_maps(project: Project) -> dict[int, np.ndarray]:
    """``{frame: label map}`` of every keyframe (existing objects only)."""
    maps = {f: project.keyframe_labels(f) for f in project.keyframe_frames()}
    return {f: m for f, m in maps.items() if m is not None}


def track_into(studio: Studio, masks_dir: Path, span: tuple[int, int] | None = None,
               progress: Callable[[int, int], None] | None = None,
               record: bool = False) -> None:
    """Label frames ``span`` (default: all) from the keyframes into ``masks_dir``.

    With ``record`` each frame's areas and confidences go into the project (batched)."""
    from gazevos.track import build_tracker
    from gazevos.track.keyframes import track_keyframes

    keyframes = keyframe_maps(studio.project)
    if not keyframes:
        raise GazevosError("nothing to track yet: mark an object on a frame first")
    name = studio.tracker_name
    batch: list[tuple[int, dict[int, int], dict[int, float]]] = []

    def write(index: int, labels: np.ndarray, conf: dict[int, float]) -> None:
        write_mask(masks_dir / f"{index:05d}.png", labels)
        if record:
            counts = np.bincount(labels.reshape(-1), minlength=256)
            ids = {o.id for o in studio.project.objects()}
            batch.append((index, {i: int(counts[i]) for i in ids},
                          {i: float(c) for i, c in conf.items() if i in ids}))
            if len(batch) >= 16:
                studio.project.record_tracked(batch)
                batch.clear()

    masks_dir.mkdir(parents=True, exist_ok=True)
    track_keyframes(studio.frames, keyframes, lambda: build_tracker(name), studio.n_frames,
                    span=span, write=write, progress=progress)
    if batch:
        studio.project.record_tracked(batch)


def track(studio: Studio, span: tuple[int, int] | None = None,
          progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Track frames ``span`` (default: all) into the project's masks; returns the span."""
    start, stop = span if span is not None else (0, studio.n_frames)
    if not 0 <= start <= stop <= studio.n_frames:
        raise GazevosError(f"frames {start}..{stop} are outside 0..{studio.n_frames}")
    with studio.lock:
        studio.project.clear_tracked(start, stop)
        studio.invalidate()
        try:
            track_into(studio, studio.project.masks_dir, (start, stop), progress, record=True)
        finally:
            studio.invalidate()
    return start, stop


def untracked_spans(studio: Studio) -> list[tuple[int, int]]:
    """The runs of frames not tracked yet, as ``[start, stop)``."""
    done = studio.project.tracked_frames()
    spans: list[tuple[int, int]] = []
    start = None
    for i in range(studio.n_frames + 1):
        missing = i < studio.n_frames and i not in done
        if missing and start is None:
            start = i
        elif not missing and start is not None:
            spans.append((start, i))
            start = None
    return spans


def timeline(studio: Studio) -> dict[int, str]:
    """Per object, one character per frame (:data:`STATES`): ``-`` not tracked, ``v``
    visible, ``c`` visible with a confidence under :data:`LOW_CONFIDENCE`, ``l`` lost (no
    pixel), ``k`` a keyframe the user gave for this object."""
    n = studio.n_frames
    objs = [o.id for o in studio.project.objects()]
    lanes = {i: np.full(n, ord("-"), np.uint8) for i in objs}
    for frame, obj, area, conf in studio.project.tracked_rows():
        if obj in lanes and 0 <= frame < n:
            state = ("l" if area == 0 else
                     "c" if conf is not None and conf < LOW_CONFIDENCE else "v")
            lanes[obj][frame] = ord(state)
    for kf in studio.project.keyframes():
        if kf.object_id in lanes and 0 <= kf.frame < n:
            lanes[kf.object_id][kf.frame] = ord("k")
    return {i: lane.tobytes().decode() for i, lane in lanes.items()}


# ----------------------------------------------------------------------------- gaze
def apply_overrides(tables: GazeTables, overrides: dict[int, int], names: dict[int, str],
                    t0: float) -> GazeTables:
    """The tables with each overridden fixation (and its usable samples) put on the given
    object (0: on nothing), metrics and transitions recomputed."""
    from gazevos.gaze.annotate import object_tables

    if not overrides:
        return tables
    samples, fixations = tables.samples.copy(), tables.fixations.copy()
    usable = samples["hit"].isin(("inside", "near", "none"))
    if "override" not in fixations.columns:
        fixations["override"] = False
    for fid, obj in overrides.items():
        rows = fixations["fixation_id"] == fid
        if not rows.any():
            continue
        hit = "inside" if obj else "none"
        fixations.loc[rows, ["object_id", "hit"]] = [int(obj), hit]
        fixations.loc[rows, "override"] = True
        on = (samples["fixation_id"] == fid) & usable
        samples.loc[on, ["object_id", "hit"]] = [int(obj), hit]
    return object_tables(samples, fixations, names, t0, tables.correction, tables.notes)


def compute_tables(studio: Studio, masks_dir: Path | None = None) -> GazeTables:
    """Gaze, fixations, metrics and transitions of the project's masks (or ``masks_dir``'s)
    with the fixation overrides applied."""
    names = {o.id: o.name for o in studio.project.objects()}
    tables = gaze_tables(studio.rec, masks_dir or studio.project.masks_dir, studio.geometry,
                         names, studio.config)
    if "override" not in tables.fixations.columns:
        tables.fixations["override"] = False
    return apply_overrides(tables, studio.project.overrides(), names,
                           float(studio.rec.frame_times[0]))


def tables(studio: Studio) -> GazeTables:
    """:func:`compute_tables` of the project, cached until the next change."""
    with studio.lock:
        if studio._tables is None:
            studio._tables = compute_tables(studio)
        return studio._tables


def set_override(studio: Studio, fixation_id: int, object_id: int | None) -> None:
    """Fixation ``fixation_id`` is on ``object_id`` (0: on nothing; None: as mapped)."""
    fix = tables(studio).fixations
    if not (fix["fixation_id"] == fixation_id).any():
        raise GazevosError(f"no fixation with id {fixation_id}")
    with studio.lock:
        studio.project.set_override(fixation_id, object_id)
        studio.invalidate()


def frame_gaze(studio: Studio) -> list[list[float] | None]:
    """Per frame ``[x, y, tolerance_px, fixation_id (-1: none)]`` of its usable gaze
    samples (mean position), or None for a frame without one."""
    s = tables(studio).samples
    ok = (s["flag"] == "ok") & (s["frame"] >= 0) & np.isfinite(s["tolerance_px"])
    s = s[ok]
    out: list[list[float] | None] = [None] * studio.n_frames
    if not len(s):
        return out
    fid = s["fixation_id"].fillna(-1).astype(int) if "fixation_id" in s else -1
    g = s.assign(fid=fid).groupby("frame").agg(x=("x", "mean"), y=("y", "mean"),
                                               tol=("tolerance_px", "mean"), fid=("fid", "max"))
    for f, row in g.iterrows():
        if 0 <= int(f) < studio.n_frames:
            out[int(f)] = [round(float(row.x), 1), round(float(row.y), 1),
                           round(float(row.tol), 1), int(row.fid)]
    return out


def state(studio: Studio) -> dict[str, Any]:
    """What the page needs to start: recording, objects, keyframes, settings."""
    w, h = studio.size
    return {"recording": str(studio.rec.root), "project": str(studio.project.root),
            "width": w, "height": h, "n_frames": studio.n_frames, "fps": studio.fps,
            "tracker": studio.tracker_name, "settings": asdict(studio.config),
            "objects": [o.__dict__ for o in studio.project.objects()],
            "keyframes": [k.__dict__ for k in studio.project.keyframes()],
            "overrides": {str(k): v for k, v in studio.project.overrides().items()},
            "untracked": untracked_spans(studio)}

