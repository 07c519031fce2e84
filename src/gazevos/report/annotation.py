"""The user-facing outputs of an ``annotate`` run: overlay video, HTML report, summary.

:func:`write_outputs` makes one more pass over the scene video, reading the masks back one
at a time, to draw the overlay (:mod:`gazevos.report.overlay`) and to pick the frames the
report shows, unless the pass trailing the tracker has drawn them already
(:mod:`gazevos.report.trailing`, with the same :class:`FrameContent`); then it writes
``report.html`` (:mod:`gazevos.report.html`) and ``summary.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from gazevos import __version__
from gazevos.gaze.sync import WARNING_PREFIX
from gazevos.io import open_frames, read_mask
from gazevos.io.atomic import atomic_write
from gazevos.io.frames import Frame, FrameSource
from gazevos.io.pipeline import Prefetch, WriteBehind
from gazevos.io.video import VideoWriter
from gazevos.report.html import ReportData, jpeg_bytes, summary_rows, write_report
from gazevos.report.overlay import FixationMark, GazeMark, OverlayRenderer

if TYPE_CHECKING:
    from gazevos.gaze.annotate import AnnotateConfig, AnnotateResult
    from gazevos.gaze.correction import Correction
    from gazevos.gaze.geometry import CameraGeometry
    from gazevos.gaze.prompts import ObjectPrompt
    from gazevos.io.recordings import Recording


#: x264 preset of ``overlay.mp4``: at 960x540 ``superfast`` encodes in about 7.6 ms of CPU
#: per frame against 10.8 for ``veryfast``, for a file about 1.8x larger (docs/experiments/speed.md)
OVERLAY_PRESET = "superfast"
#: ... with a fixed B-frame pattern and no adaptive quantisation: on 960x540 scene video
#: 3.0-3.4 against 4.5-5.0 ms of CPU a frame, a 19 % smaller file and a higher PSNR
#: (45.8 against 45.2 dB; session 15, docs/experiments/speed.md)
OVERLAY_X264 = "b-adapt=0:aq-mode=0"


def evenly_spaced_frames(n_frames: int, k: int) -> list[int]:
    """The ``k`` frames that split ``n_frames`` into ``k + 1`` equal parts (the report's
    fill-up frames)."""
    if k <= 0 or n_frames <= 0:
        return []
    return [int(f) for f in np.linspace(0, n_frames - 1, k + 2)[1:-1].round()]


def middle_frame(start_frame: int, end_frame: int) -> int:
    """The frame a fixation is shown by in the report: the middle of its frames."""
    return int((start_frame + end_frame) // 2)


def report_frame_indices(fixations: pd.DataFrame, n_frames: int, k: int) -> list[int]:
    """Up to ``k`` frames worth showing: the middle of the longest fixation on each object,
    then evenly spaced frames to fill up; sorted, unique."""
    chosen: list[int] = []
    if k <= 0 or n_frames <= 0:
        return chosen
    if len(fixations) and {"object_id", "start_frame", "end_frame"} <= set(fixations.columns):
        on = fixations[(fixations["object_id"] > 0) & (fixations["start_frame"] >= 0)]
        for _, grp in on.groupby("object_id"):
            row = grp.loc[grp["duration"].idxmax()]
            chosen.append(middle_frame(row["start_frame"], row["end_frame"]))
    chosen = sorted(set(chosen))[:k]
    for f in evenly_spaced_frames(n_frames, k):
        if len(chosen) >= k:
            break
        if all(abs(f - c) > 2 for c in chosen):
            chosen.append(f)
    return sorted(set(chosen))


def _header(index: int, t: float, names: dict[int, str],
            last: tuple[str, int, str] | None) -> str:
    """The overlay's top line; ``last``: ``(hit, object_id, flag)`` of the frame's last
    gaze sample (None: no sample)."""
    text = f"frame {index}  {t:.2f} s"
    if last is not None:
        hit, obj, flag = last
        if hit in ("inside", "near"):
            text += f"  gaze: {names.get(int(obj), '?')} ({hit})"
        elif hit == "none":
            text += "  gaze: no object"
        else:
            text += f"  gaze: {flag}"
    return text


class FrameContent:
    """What the overlay of each frame shows (its gaze samples, the fixation in progress,
    the header line), from the samples and fixations held as arrays, so that a pass
    trailing the tracker (:mod:`gazevos.report.trailing`) can draw while they fill up.

    Args:
        sample_frame: ``(N,)`` scene frame of each sample (-1: none).
        x, y: ``(N,)`` gaze position, video pixels.
        hit, object_id, tolerance: ``(N,)`` mapping answers (arrays that may still be
            filling up: a frame is drawn after its samples are mapped).
        flag: ``(N,)`` the samples' quality flags.
        fixations: ``start``, ``end``, ``x``, ``y``, ``fixation_id`` columns, sorted by
            ``start``.
        fixation_label: ``k -> text`` of the k-th fixation (its object's name; asked when
            a frame of it is drawn).
        frame_times: the recording's frame timestamps.
        n_frames: video frames.
        names: object id -> name.
        scale: overlay pixels per video pixel.
    """

    def __init__(self, sample_frame: np.ndarray, x: np.ndarray, y: np.ndarray,
                 hit: np.ndarray, object_id: np.ndarray, tolerance: np.ndarray,
                 flag: np.ndarray, fixations: pd.DataFrame,
                 fixation_label: Callable[[int], str], frame_times: np.ndarray,
                 n_frames: int, names: dict[int, str], scale: float = 1.0) -> None:
        frames = np.asarray(sample_frame, dtype=np.int64)
        self.order = np.argsort(frames, kind="stable")
        self.starts = np.searchsorted(frames[self.order], np.arange(n_frames + 1), side="left")
        self.x, self.y, self.hit, self.object_id = x, y, hit, object_id
        self.tolerance, self.flag = tolerance, flag
        self.fx_start = fixations["start"].to_numpy(float)
        self.fx_end = fixations["end"].to_numpy(float)
        self.fx_x = fixations["x"].to_numpy(float)
        self.fx_y = fixations["y"].to_numpy(float)
        self.fx_id = fixations["fixation_id"].to_numpy(np.int64)
        self.fixation_label = fixation_label
        self.frame_times = np.asarray(frame_times, dtype=float)
        self.n_frames = n_frames
        self.names = names
        self.scale = scale

    def time(self, i: int) -> float:
        """Frame ``i``'s recording time (NaN past the timestamps)."""
        return float(self.frame_times[i]) if i < len(self.frame_times) else np.nan

    def fixation_at(self, i: int) -> int:
        """Row of the fixation in progress at frame ``i`` (-1: none)."""
        t = self.time(i)
        k = int(np.searchsorted(self.fx_start, t, side="right")) - 1
        return k if k >= 0 and self.fx_end[k] >= t else -1

    def caption(self, i: int) -> str:
        """The report's caption of frame ``i``."""
        return f"frame {i} ({self.time(i) - float(self.frame_times[0]):.2f} s)"

    def draw(self, render: OverlayRenderer, i: int, image: np.ndarray,
             labels: np.ndarray | None) -> np.ndarray:
        """Frame ``i``'s overlay on ``image`` (already at the overlay's size, as
        ``labels``)."""
        sc = self.scale
        a, b = (self.starts[i], self.starts[i + 1]) if i < self.n_frames else (0, 0)
        rows = self.order[a:b]
        marks = [GazeMark(float(self.x[j] * sc), float(self.y[j] * sc), str(self.hit[j]))
                 for j in rows]
        last = None
        tol = None
        if b > a:
            j = rows[-1]
            last = (str(self.hit[j]), int(self.object_id[j]), str(self.flag[j]))
            if np.isfinite(self.tolerance[j]):
                tol = float(self.tolerance[j] * sc)
        fmark = None
        k = self.fixation_at(i)
        if k >= 0:
            fmark = FixationMark(float(self.fx_x[k]) * sc, float(self.fx_y[k]) * sc,
                                 int(self.fx_id[k]), self.fixation_label(k))
        t_rel = self.time(i) - float(self.frame_times[0])
        return render(image, labels, marks, tol, fmark, _header(i, t_rel, self.names, last))


def overlay_size(width: int, height: int, max_width: int) -> tuple[float, tuple[int, int] | None]:
    """``(scale, (w, h))`` of an overlay at most ``max_width`` wide (0: full size, then
    ``(1.0, None)``).

    The frame divided by the smallest whole factor that fits when that leaves at least 0.8
    of ``max_width`` (1920 -> 960 and 1600 -> 800 for 960: such overlays can take the
    tracker's frames, :func:`overlay_frames`), else exactly ``max_width`` wide.
    """
    if 0 < max_width < width:
        k = -(-width // max_width)
        if width % k == 0 and height % k == 0 and width // k >= 0.8 * max_width:
            return 1.0 / k, (width // k, height // k)
        scale = max_width / width
        return scale, (max_width, max(2, round(height * scale)))
    return 1.0, None


def integer_scale(width: int, height: int, size: tuple[int, int] | None) -> bool:
    """Whether ``size`` divides ``width x height`` by one whole factor in both directions
    (or is None: no scaling)."""
    if size is None:
        return True
    return (width % size[0] == 0 and height % size[1] == 0
            and width // size[0] == height // size[1])


def scale_image(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """``image`` at the overlay's ``size`` (None: as is), by OpenCV's area averaging."""
    if size is None or image.shape[1::-1] == tuple(size):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def overlay_frames(source: FrameSource, size: tuple[int, int] | None,
                   keep: Callable[[int], bool] | None = None) -> Iterator[Frame]:
    """The frames of ``source`` at the overlay's ``size``: by a whole factor, the full
    frames scaled by :func:`scale_image` (the pixels an overlay fed with the tracker's
    frames gets, :mod:`gazevos.report.trailing`; OpenCV's area averaging is fast for whole
    factors); otherwise scaled in the decoder's colour conversion (cheaper there than
    OpenCV's general area averaging)."""
    if size is not None and integer_scale(source.width, source.height, size):
        for f in source.frames(None, keep):
            yield Frame(f.index, scale_image(f.image, size), f.time, f.name)
    else:
        yield from source.frames(size, keep)


def result_content(result: AnnotateResult, rec: Recording, names: dict[int, str],
                   scale: float) -> FrameContent:
    """The :class:`FrameContent` of a finished run's tables."""
    samples = result.samples
    fx = result.fixations.sort_values("start").reset_index(drop=True)
    labels = fx["object"].astype(str).tolist() if "object" in fx else [""] * len(fx)
    tol = samples["tolerance_px"].to_numpy(float) if "tolerance_px" in samples else \
        np.full(len(samples), np.nan)
    return FrameContent(samples["frame"].to_numpy(np.int64), samples["x"].to_numpy(float),
                        samples["y"].to_numpy(float), samples["hit"].to_numpy().astype(str),
                        samples["object_id"].to_numpy(np.int64), tol,
                        samples["flag"].to_numpy().astype(str), fx, labels.__getitem__,
                        rec.frame_times, result.n_frames, names, scale)


def render_overlays(result: AnnotateResult, rec: Recording, names: dict[int, str],
                    write_video: bool, report_frames: Sequence[int], progress: bool = True,
                    width: int = 0) -> list[tuple[str, bytes]]:
    """Draw the overlay of every frame; write ``overlay.mp4`` if asked.

    ``width``: frames wider than this are drawn and encoded at this width (0: the video's
    own size); drawing and H.264 encoding cost grows with the pixel count.

    Returns:
        ``(caption, JPEG bytes)`` of the frames in ``report_frames``.
    """
    out = result.out_dir
    draw = OverlayRenderer(names)
    wanted = set(report_frames)
    pictures: list[tuple[str, bytes]] = []
    source = open_frames(rec.video_path)  # type: ignore[arg-type]
    writer = (VideoWriter(out / "overlay.mp4", fps=source.fps, preset=OVERLAY_PRESET,
                          threads=1, x264_params=OVERLAY_X264)
              if write_video else None)
    last_needed = max(wanted, default=-1)
    scale, size = overlay_size(source.width, source.height, width)
    content = result_content(result, rec, names, scale)

    def frames_with_masks() -> Iterator[tuple[Frame, np.ndarray]]:
        """``(frame, labels)``: frames decoded at the overlay's width and
        their masks read and resized to it, in the prefetching thread (off the drawing
        one)."""
        # without the video only the report's frames are needed: the others are decoded
        # but not converted, and decoding stops after the last one
        keep = None if writer is not None else wanted.__contains__
        if writer is None and not wanted:
            return
        for frame in overlay_frames(source, size, keep):
            i = frame.index
            yield frame, overlay_labels(out / "masks", i, size)
            if writer is None and i >= last_needed:
                return

    # decoding and mask reading ahead, encoding behind, drawing here
    ahead = Prefetch(frames_with_masks(), 4)
    encoder = WriteBehind(writer.write, 4) if writer is not None else None
    try:
        bar = tqdm(ahead, total=result.n_frames, desc="overlay", unit="frame",
                   disable=not progress or not write_video)
        for frame, labels in bar:
            i = frame.index
            img = content.draw(draw, i, frame.image, labels)
            if encoder is not None:
                encoder.put(img)
            if i in wanted:
                pictures.append((content.caption(i), jpeg_bytes(img)))
        if encoder is not None:
            encoder.flush()
    except BaseException:
        ahead.close()
        if encoder is not None:
            encoder.close()
        if writer is not None:
            writer.abort()
        raise
    ahead.close()
    if encoder is not None:
        encoder.close()
    if writer is not None:
        writer.close()
    return pictures


def resize_labels(labels: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """``(H, W)`` labels resized (nearest) to the overlay's ``size`` ``(w, h)`` (None: as
    they are)."""
    if size is not None:
        labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    return labels


def overlay_labels(masks_dir: Path, i: int, size: tuple[int, int] | None) -> np.ndarray:
    """Frame ``i``'s mask read from ``masks_dir`` and resized to the overlay's ``size``."""
    return resize_labels(read_mask(masks_dir / f"{i:05d}.png"), size)


def correction_text(corr: Correction | None) -> str:
    """One line describing a fitted calibration correction (``none`` when off)."""
    if corr is None:
        return "none"
    text = f"{corr.model}: offset {corr.dx:+.1f}, {corr.dy:+.1f} px " \
           f"({corr.dx_deg:+.2f}, {corr.dy_deg:+.2f} deg)"
    if corr.model != "offset":
        text += f", scale {corr.sx:.3f} x {corr.sy:.3f}"
    text += (f"; {corr.n_used} of {corr.n_fixations} fixations used; mean distance to "
             f"their object {corr.mean_dist_before_deg:.2f} -> {corr.mean_dist_after_deg:.2f} "
             "deg")
    if corr.note:
        text += f" ({corr.note})"
    return text


#: report headers of the AOI metric columns (units in brackets)
METRIC_HEADERS = {
    "object": "object", "dwell_time": "dwell time [s]", "n_samples": "samples",
    "n_fixations": "fixations", "total_fixation_duration": "fixation time [s]",
    "mean_fixation_duration": "mean fixation [s]",
    "time_to_first_fixation": "first fixation at [s]",
    "first_fixation_duration": "first fixation [s]", "n_visits": "visits",
    "n_revisits": "revisits", "total_visit_duration": "visit time [s]"}


def display_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    """The AOI metrics with readable headers, for the report."""
    cols = [c for c in METRIC_HEADERS if c in metrics.columns]
    return metrics[cols].rename(columns=METRIC_HEADERS)


def named_transitions(matrix: pd.DataFrame, names: dict[int, str]) -> pd.DataFrame:
    """A transition matrix with object names instead of ids (0: ``(no object)``)."""
    def name(i: object) -> str:
        return names.get(int(i), "(no object)")  # type: ignore[call-overload]

    out = matrix.copy()
    out.index = pd.Index([name(i) for i in matrix.index], name="from \\ to")
    out.columns = [name(i) for i in matrix.columns]
    return out


def split_warnings(notes: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(warnings, other notes)`` of a run's notes: a warning is a note starting with
    :data:`~gazevos.gaze.sync.WARNING_PREFIX` (returned without it)."""
    warns = [n[len(WARNING_PREFIX):] for n in notes if n.startswith(WARNING_PREFIX)]
    return warns, [n for n in notes if not n.startswith(WARNING_PREFIX)]


def write_outputs(result: AnnotateResult, rec: Recording, prompts: Sequence[ObjectPrompt],
                  tracker_name: str, geometry: CameraGeometry, cfg: AnnotateConfig,
                  progress: bool, t_start: float,
                  drawn: dict[int, tuple[str, bytes]] | None = None) -> None:
    """Write ``overlay.mp4`` (if ``cfg.video``), ``report.html`` and ``summary.json``.

    ``drawn``: the overlay video is already written (:mod:`gazevos.report.trailing`) and
    these are the frames kept for the report (``frame -> (caption, JPEG)``); a chosen
    frame missing there is drawn again.
    """
    out = result.out_dir
    names = {p.object_id: p.name for p in prompts}
    picks = report_frame_indices(result.fixations, result.n_frames, cfg.report_frames)
    t_out = time.perf_counter()
    if drawn is not None and all(i in drawn for i in picks):
        pictures = [drawn[i] for i in picks]
    else:
        pictures = render_overlays(result, rec, names, cfg.video and drawn is None, picks,
                                   progress, cfg.video_width)
    if cfg.video:
        result.files.append("overlay.mp4")
    result.files += ["report.html", "summary.json"]
    result.total_seconds = time.perf_counter() - t_start

    s = result.samples
    t0 = float(rec.frame_times[0])
    duration = float(rec.frame_times[-1] - t0) + (
        float(np.median(np.diff(rec.frame_times))) if len(rec.frame_times) > 1 else 0.0)
    flags = s["flag"].value_counts().to_dict()
    tol = s["tolerance_px"].to_numpy(float)
    tol = tol[np.isfinite(tol)]
    tol_text = (f"{cfg.tolerance_deg:g} deg = {tol.min():.1f}-{tol.max():.1f} px"
                if len(tol) else f"{cfg.tolerance_deg:g} deg")
    prompt_text = "; ".join(
        f"{p.name} ({p.kind} on frame {p.frame})" for p in prompts)
    w, h = rec.resolution
    warns, notes = split_warnings(result.notes)
    items: list[tuple[str, object]] = [
        ("recording", str(rec.root)), ("format", f"{rec.format} ({rec.meta.get('device', '')})"),
        ("scene video", f"{w}x{h}, {result.n_frames} frames, {duration:.2f} s"),
        ("objects", prompt_text), ("tracker", tracker_name),
        ("tracking speed", f"{result.track_fps:.1f} frames/s ({result.track_seconds:.1f} s"
                           + (", masks from an earlier run)" if result.tracking_resumed else ")")),
        ("total time", f"{result.total_seconds:.1f} s"),
        ("camera geometry", geometry.source), ("tolerance", tol_text),
        ("fixation method", f"{cfg.fixations} ({len(result.fixations)} fixations)"),
        ("calibration correction", correction_text(result.correction)),
        ("gaze samples", f"{len(s)} (" + ", ".join(f"{k}: {v}" for k, v in
                                                   sorted(flags.items())) + ")"),
        ("gazevos", __version__)]
    data = ReportData(
        title=f"gazevos report: {Path(rec.root).name}",
        summary=summary_rows(items), objects=names, duration=duration,
        sample_time=s["t"].to_numpy(float),
        sample_object=np.where(s["hit"].to_numpy() == "invalid", -1,
                               s["object_id"].to_numpy(np.int64)),
        sample_hit=s["hit"].to_numpy().astype(str),
        fixations=[(float(a - t0), float(b - t0), int(o)) for a, b, o in
                   result.fixations[["start", "end", "object_id"]].itertuples(index=False)],
        metrics=display_metrics(result.metrics),
        transitions=named_transitions(result.transitions, names),
        images=pictures, files=list(result.files),
        warnings=warns,
        notes=[*notes,
               "dwell_time: time of the valid gaze samples on the object (inside its mask or "
               "within the tolerance); fixations are assigned to the object most of their "
               "samples are on; a visit is a run of consecutive fixations on the same object; "
               "times in seconds, time_to_first_fixation from the first video frame."])
    write_report(out / "report.html", data)
    result.timings["outputs"] = time.perf_counter() - t_out
    summary = {
        "gazevos": __version__, "recording": str(rec.root), "format": rec.format,
        "video": str(rec.video_path), "resolution": [w, h], "frames": result.n_frames,
        "tracker": tracker_name, "track_seconds": result.track_seconds,
        "track_fps": result.track_fps, "tracking_resumed": result.tracking_resumed,
        "total_seconds": result.total_seconds, "stage_seconds": result.timings,
        "camera_geometry": geometry.source,
        "settings": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "objects": [{"id": p.object_id, "name": p.name, "kind": p.kind, "frame": p.frame,
                     "box": p.box, "point": p.point,
                     "mask": None if p.mask_path is None else str(p.mask_path)}
                    for p in prompts],
        "correction": None if result.correction is None else result.correction.as_dict(),
        "notes": notes, "warnings": warns, "sample_flags": flags,
        "fixations": len(result.fixations),
        "metrics": json.loads(result.metrics.to_json(orient="records")),
        "files": result.files}
    with atomic_write(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=_json_default))


def _json_default(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
