"""The gaze mapping, the AOI frame statistics and the overlay video, made while the
tracker runs.

:class:`TrailingOutputs` follows the masks as the tracking pass writes them
(:class:`FrameGate`) with two threads:

* **gaze**: waits for the synced samples and fixations (``start_gaze_events``), then
  takes each frame's label map from the tracking pass (:class:`LabelBuffer`; or reads the
  mask where the buffer had no room), keeps its :func:`~gazevos.gaze.aoi.mask_stats` for
  the AOI tables and maps the frame's gaze samples on it
  (:class:`~gazevos.gaze.mapping.MappingRun`);
* **overlay**: takes each frame and its labels from the tracking pass
  (:class:`FramePool`; or decodes the video again and reads the masks where the overlay's
  size is not a whole-factor reduction, or the pass was resumed) and draws frame ``i`` as
  soon as its samples are mapped and the fixation in progress there has its object (all
  the frames of that fixation mapped), then encodes it.  The report's pictures are known
  only at the end (they depend on the longest fixation on each object), so the frames that
  may be chosen (evenly spaced ones, and the middle of the longest fixation so far on each
  object) are kept as JPEG.

The results equal those of the passes made after tracking (``gaze_tables``,
``render_overlays``): the same functions compute them, in the same order.  What changes is
that the work runs beside the tracker instead of after it.  The overlay has to wait for
the fixation detection (seconds per minute of gaze with I2MC): the frames handed over
meanwhile wait in memory and then on disk, up to a bound past which it decodes the video
itself.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from gazevos.errors import GazevosError
from gazevos.gaze.aoi import AoiConfig, mask_stats
from gazevos.gaze.mapping import GazeObjectMapper, MappingConfig, MappingRun, fixation_object
from gazevos.io import open_frames, read_mask
from gazevos.io.frames import Frame
from gazevos.io.pipeline import Background, Prefetch, WriteBehind
from gazevos.io.video import VideoWriter
from gazevos.report.annotation import (
    OVERLAY_PRESET,
    OVERLAY_X264,
    FrameContent,
    evenly_spaced_frames,
    integer_scale,
    middle_frame,
    overlay_frames,
    overlay_labels,
    overlay_size,
    resize_labels,
    scale_image,
)
from gazevos.report.html import jpeg_bytes
from gazevos.report.overlay import OverlayRenderer

if TYPE_CHECKING:
    from gazevos.gaze.annotate import AnnotateConfig
    from gazevos.gaze.events import GazeEvents
    from gazevos.gaze.geometry import CameraGeometry
    from gazevos.io.recordings import Recording

__all__ = ["FrameGate", "FramePool", "LabelBuffer", "TrailingOutputs", "TrailingResult"]

#: the folder (inside the run's output folder) of the frames handed over on disk
POOL_DIR = ".overlay-frames"


class Stopped(Exception):
    """The frames a trailing thread waits for will not come (the run stopped)."""


class FrameGate:
    """How many frames, from the first, are done (masks on disk, samples mapped, ...);
    threads wait for a frame with :meth:`wait`."""

    def __init__(self, done: int = 0) -> None:
        self._done = done
        self._closed = False
        self._cv = threading.Condition()

    @property
    def done(self) -> int:
        """Frames ``0 .. done - 1`` are done."""
        return self._done

    def advance(self, done: int) -> None:
        """Frames ``0 .. done - 1`` are done (a smaller number changes nothing)."""
        with self._cv:
            if done > self._done:
                self._done = done
                self._cv.notify_all()

    def close(self) -> None:
        """No more frames will be done: waiting threads raise :class:`Stopped`."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def wait(self, index: int) -> None:
        """Return once frame ``index`` is done.

        Raises:
            Stopped: the gate was closed before.
        """
        with self._cv:
            while self._done <= index:
                if self._closed:
                    raise Stopped
                self._cv.wait()


def _spill(path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    """Write the raw bytes of ``arrays`` (uint8), one after the other, to ``path``."""
    with open(path, "wb") as f:
        for a in arrays:
            np.ascontiguousarray(a).tofile(f)


class FramePool:
    """Overlay-size frames (and their label maps) handed from the tracking pass to the
    trailing overlay: up to ``capacity`` in memory, the others written as raw files to
    ``folder`` until taken (the overlay starts only once the fixations are known, seconds
    per minute of gaze, and lags behind where a long fixation waits for its object).

    At most ``max_on_disk`` frames wait on disk (960x540: 2 MB each with the labels); the
    first frame that finds no room is :attr:`dropped_from`, and neither it nor any later
    frame is kept: the overlay decodes the video itself from there.

    Args:
        folder: where frames beyond ``capacity`` wait (made empty here; removed by
            :meth:`close`).
        capacity: frames kept in memory.
        max_on_disk: frames kept on disk at most.
    """

    def __init__(self, folder: Path, capacity: int = 32, max_on_disk: int = 600) -> None:
        self.folder = folder
        self.capacity = capacity
        self.max_on_disk = max_on_disk
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self._memory: dict[int, tuple[np.ndarray, ...]] = {}
        self._on_disk: dict[int, tuple[tuple[int, ...], ...]] = {}
        self._lock = threading.Lock()
        self.spilled = 0
        #: the first frame not kept (None: all kept so far)
        self.dropped_from: int | None = None

    def put(self, index: int, *arrays: np.ndarray) -> None:
        """Keep frame ``index``'s uint8 arrays (the ``(h, w, 3)`` image, the ``(h, w)``
        labels) until :meth:`take` (unless a frame was dropped before, or there is no room
        left: then it is dropped)."""
        with self._lock:
            if self.dropped_from is not None:
                return
            if len(self._memory) < self.capacity:
                self._memory[index] = arrays
                return
            if len(self._on_disk) >= self.max_on_disk:
                self.dropped_from = index
                return
        path = self.folder / f"{index:06d}.raw"
        try:
            _spill(path, arrays)
        except OSError:        # no room on the disk either: the overlay decodes from here
            path.unlink(missing_ok=True)
            with self._lock:
                self.dropped_from = index
            return
        with self._lock:
            self._on_disk[index] = tuple(a.shape for a in arrays)
            self.spilled += 1

    def take(self, index: int) -> tuple[np.ndarray, ...] | None:
        """Frame ``index``'s arrays as put, forgotten here (None: it was not put)."""
        with self._lock:
            if index in self._memory:
                return self._memory.pop(index)
            shapes = self._on_disk.pop(index, None)
        if shapes is None:
            return None
        path = self.folder / f"{index:06d}.raw"
        flat = np.fromfile(path, dtype=np.uint8)
        path.unlink()
        out, at = [], 0
        for shape in shapes:
            n = int(np.prod(shape))
            out.append(flat[at:at + n].reshape(shape))
            at += n
        return tuple(out)

    def close(self) -> None:
        """Forget every frame and remove the folder."""
        with self._lock:
            self._memory.clear()
            self._on_disk.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


class LabelBuffer:
    """Frame-size label maps handed from the tracking pass to the gaze thread, so that it
    need not read each mask back from disk: at most ``max_bytes`` wait in memory; a frame
    that finds no room is not kept (the gaze thread reads its PNG instead).

    The gaze thread waits for the fixation detection before it maps, so the first frames
    of a run find the buffer full; once it has caught up, each frame is taken soon after
    it is put.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self._maps: dict[int, np.ndarray] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, index: int, labels: np.ndarray) -> None:
        """Keep frame ``index``'s ``(H, W)`` labels if there is room."""
        with self._lock:
            if self._bytes + labels.nbytes <= self.max_bytes:
                self._maps[index] = labels
                self._bytes += labels.nbytes

    def take(self, index: int) -> np.ndarray | None:
        """Frame ``index``'s labels, forgotten here (None: not kept)."""
        with self._lock:
            labels = self._maps.pop(index, None)
            if labels is not None:
                self._bytes -= labels.nbytes
            return labels

    def clear(self) -> None:
        """Forget every label map kept."""
        with self._lock:
            self._maps.clear()
            self._bytes = 0


@dataclass
class TrailingResult:
    """What the trailing threads made.

    Attributes:
        samples: the mapped gaze samples (``MappingRun.result``).
        stats: ``frame -> mask_stats`` of every frame (AOI tables).
        pictures: ``frame -> (caption, JPEG)`` of the frames the report may show.
        video: whether ``overlay.mp4`` was written.
        seconds: wall seconds each thread ran after the tracking pass ended.
    """

    samples: pd.DataFrame
    stats: dict[int, tuple[np.ndarray, np.ndarray]]
    pictures: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    video: bool = False
    seconds: float = 0.0


class TrailingOutputs:
    """Gaze mapping, AOI statistics and overlay video trailing the tracking pass.

    Call :meth:`written` as masks are written (``masks/NNNNN.png``, in frame order), then
    :meth:`finish`, or :meth:`abort` when the pass fails.

    Args:
        out: the run's output folder (``masks/`` inside, ``overlay.mp4`` written there).
        rec: the recording.
        names: object id -> name.
        cfg: the annotate settings (tolerance, video, width, report frames).
        geometry: the scene camera.
        events: the synced samples and fixations being computed.
        n_frames: video frames.
        masks_done: frames already on disk (a resumed or reused pass).
        fed: the tracking pass will hand over every frame from the first
            (:meth:`written` with the frame), so the overlay need not decode the video
            again; taken only where the overlay's size divides the frame's by a whole
            factor (OpenCV's area averaging is then cheap and gives the pixels the
            decoding path does: :func:`~gazevos.report.annotation.overlay_frames`).
    """

    def __init__(self, out: Path, rec: Recording, names: dict[int, str], cfg: AnnotateConfig,
                 geometry: CameraGeometry, events: Background[GazeEvents], n_frames: int,
                 masks_done: int = 0, fed: bool = False) -> None:
        self.out, self.rec, self.names, self.cfg = out, rec, names, cfg
        self.geometry, self.events, self.n_frames = geometry, events, n_frames
        self.masks = FrameGate(masks_done)
        video = cfg.video and n_frames > 0
        self.source = open_frames(rec.video_path) if video else None  # type: ignore[arg-type]
        self.scale, self.size = (overlay_size(self.source.width, self.source.height,
                                              cfg.video_width)
                                 if self.source is not None else (1.0, None))
        shutil.rmtree(out / POOL_DIR, ignore_errors=True)   # left by a killed run
        self.pool = (FramePool(out / POOL_DIR) if video and fed and masks_done == 0
                     and integer_scale(self.source.width, self.source.height, self.size)
                     else None)
        self.labels = LabelBuffer()
        self.mapped = FrameGate()
        self._run: MappingRun | None = None
        self._run_ready = threading.Event()
        self._stop = threading.Event()
        self.overlay_done = 0
        self._gaze = Background(self._gaze_work, name="gazevos-trail-gaze")
        self._overlay = (Background(self._overlay_work, name="gazevos-trail-overlay")
                         if video else None)

    def written(self, frame: Frame, labels: np.ndarray) -> None:
        """Frame ``frame.index``'s mask (``labels``, ``(H, W)`` uint8) is on disk (frames in
        order).  The gaze thread takes ``labels`` from memory when it can; a fed overlay
        keeps the image and the labels, scaled to the overlay's size, until drawn."""
        if self.pool is not None:
            self.pool.put(frame.index, scale_image(frame.image, self.size),
                          resize_labels(labels, self.size))
        self.labels.put(frame.index, labels)
        self.masks.advance(frame.index + 1)

    # ----------------------------------------------------------------- gaze thread
    def _gaze_work(self) -> tuple[MappingRun, dict[int, tuple[np.ndarray, np.ndarray]]]:
        try:
            ev = self.events.result()
            mapper = GazeObjectMapper(self.geometry, MappingConfig(
                tolerance_deg=self.cfg.tolerance_deg, min_confidence=self.cfg.min_confidence))
            run = MappingRun(mapper, ev.samples)
            self._run = run
            self._run_ready.set()
            ids = sorted(self.names)
            stats: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            folder = self.out / "masks"
            for i in range(self.n_frames):
                self.masks.wait(i)
                labels = self.labels.take(i)
                if labels is None:
                    labels = read_mask(folder / f"{i:05d}.png")
                stats[i] = mask_stats(labels, ids, AoiConfig.border_px)
                run.map(i, labels)
                self.mapped.advance(i + 1)
            self.labels.clear()
            for f in run.frames[run.frames >= self.n_frames]:   # samples after the video
                run.map(int(f), None)
            self.mapped.advance(np.iinfo(np.int64).max)
            return run, stats
        except BaseException:
            self._run_ready.set()
            self.mapped.close()
            self.labels.clear()
            raise

    # -------------------------------------------------------------- overlay thread
    def _overlay_work(self) -> dict[int, tuple[str, bytes]]:
        self._run_ready.wait()
        ev = self.events.result()
        run = self._run
        if run is None:            # the gaze thread failed: finish() raises its error
            raise Stopped
        source = self.source
        assert source is not None
        scale, size = self.scale, self.size
        fixations = ev.fixations.sort_values("start").reset_index(drop=True)
        times = ev.samples["time"].to_numpy(float)
        perm = np.argsort(times, kind="stable")     # the samples in time order
        times = times[perm]
        frames = ev.samples["frame"].to_numpy(np.int64)
        # each fixation's samples: [lo, hi) in time order; the last frame they lie on
        lo = np.searchsorted(times, fixations["start"].to_numpy(float), side="left")
        hi = np.searchsorted(times, fixations["end"].to_numpy(float), side="right")
        last_frame = np.array([max(int(frames[perm[a:b]].max(initial=-1)), 0)
                               for a, b in zip(lo, hi, strict=True)], dtype=np.int64)
        objects: dict[int, int] = {}

        def fixation_obj(k: int) -> int:
            if k not in objects:
                rows = perm[lo[k]:hi[k]]
                hit = run.hit[rows]
                usable = (hit == "inside") | (hit == "near") | (hit == "none")
                objects[k] = fixation_object(run.object_id[rows], hit == "inside", usable)[0]
            return objects[k]

        content = FrameContent(frames, run.x, run.y, run.hit, run.object_id, run.tolerance,
                               ev.samples["flag"].to_numpy().astype(str), fixations,
                               lambda k: self.names.get(fixation_obj(k), ""),
                               self.rec.frame_times, self.n_frames, self.names, scale)
        keeper = _PictureKeeper(fixations, last_frame, fixation_obj, self.n_frames,
                                self.cfg.report_frames)
        draw = OverlayRenderer(self.names)
        writer = VideoWriter(self.out / "overlay.mp4", fps=source.fps, preset=OVERLAY_PRESET,
                             threads=1, x264_params=OVERLAY_X264)
        folder = self.out / "masks"

        def decoded(start: int = 0) -> Iterator[tuple[Frame, np.ndarray]]:
            """The frames from ``start`` decoded again, with their masks read back (the
            frames before ``start`` decoded, not converted)."""
            for frame in overlay_frames(source, size, keep=start.__le__ if start else None):
                if frame.index >= self.n_frames:
                    return
                self.masks.wait(frame.index)
                yield frame, overlay_labels(folder, frame.index, size)

        def fed(pool: FramePool) -> Iterator[tuple[Frame, np.ndarray]]:
            for i in range(self.n_frames):
                self.masks.wait(i)
                kept = pool.take(i)
                if kept is None and pool.dropped_from is not None and pool.dropped_from <= i:
                    # no room was left for this frame: decode the video from here on
                    pool.close()
                    yield from decoded(i)
                    return
                if kept is None:
                    raise GazevosError(f"frame {i} was not handed over to the overlay",
                                       self.rec.video_path)
                image, labels = kept
                yield Frame(i, image, np.nan, f"{i:05d}"), labels

        frames = fed(self.pool) if self.pool is not None else decoded()
        ahead = Prefetch(frames, 2, name="gazevos-trail-decode")
        encoder = WriteBehind(writer.write, 4, name="gazevos-trail-encode")
        try:
            for frame, labels in ahead:   # type: ignore[attr-defined]
                i = frame.index
                k = content.fixation_at(i)
                need = max([i, int(last_frame[k]) if k >= 0 else 0,
                            *keeper.needs(i)])
                self.mapped.wait(need)
                img = content.draw(draw, i, frame.image, labels)
                encoder.put(img)
                keeper.offer(i, img, content)
                self.overlay_done = i + 1
                if self._stop.is_set():
                    raise Stopped
            encoder.flush()
        except BaseException:
            ahead.close()
            encoder.close()
            writer.abort()
            raise
        ahead.close()
        encoder.close()
        writer.close()
        return keeper.kept

    # ------------------------------------------------------------------ the end
    def finish(self, progress: bool = True) -> TrailingResult:
        """Wait for both threads (all masks must be on disk) and return their results.

        Raises:
            the threads' errors.
        """
        t = time.perf_counter()
        try:
            if self._overlay is not None and progress:
                with tqdm(total=self.n_frames, initial=self.overlay_done, desc="overlay",
                          unit="frame") as bar:
                    while not self._overlay.join(0.25):
                        bar.update(self.overlay_done - bar.n)
            run, stats = self._gaze.result()
            pictures = self._overlay.result() if self._overlay is not None else {}
        except BaseException:     # e.g. Ctrl-C: no partial overlay is left behind
            self.abort()
            raise
        finally:
            if self.pool is not None:
                self.pool.close()
        return TrailingResult(run.result(), stats, pictures, self._overlay is not None,
                              time.perf_counter() - t)

    def abort(self) -> None:
        """Stop both threads; nothing is left of the overlay video."""
        self._stop.set()
        self.masks.close()
        self.mapped.close()
        for job in (self._gaze, self._overlay):
            if job is not None:
                try:
                    job.result()
                except BaseException:  # noqa: BLE001 - the run's own error is raised
                    pass
        if self.pool is not None:
            self.pool.close()


class _PictureKeeper:
    """The overlay frames the report may show, kept as JPEG while the overlay is drawn:
    evenly spaced frames and, per object, the middle of its longest fixation so far (the
    choice of :func:`~gazevos.report.annotation.report_frame_indices`)."""

    def __init__(self, fixations: pd.DataFrame, last_frame: np.ndarray, fixation_obj,
                 n_frames: int, k: int) -> None:
        self.kept: dict[int, tuple[str, bytes]] = {}
        self.even = set(evenly_spaced_frames(n_frames, k))
        self.fixation_obj = fixation_obj
        self.last_frame = last_frame
        self.best: dict[int, tuple[float, int]] = {}      # object -> (duration, frame)
        self.middle: dict[int, list[int]] = {}
        if k > 0 and {"start_frame", "end_frame", "duration"} <= set(fixations.columns):
            sf = fixations["start_frame"].to_numpy(np.int64)
            ef = fixations["end_frame"].to_numpy(np.int64)
            self.duration = fixations["duration"].to_numpy(float)
            for j in np.flatnonzero(sf >= 0):
                self.middle.setdefault(middle_frame(sf[j], ef[j]), []).append(int(j))

    def needs(self, i: int) -> Sequence[int]:
        """Frames that must be mapped before frame ``i`` is offered."""
        return [int(self.last_frame[j]) for j in self.middle.get(i, ())]

    def offer(self, i: int, img: np.ndarray, content: FrameContent) -> None:
        keep = i in self.even
        for j in self.middle.get(i, ()):
            obj = self.fixation_obj(j)
            if obj <= 0:
                continue
            prev = self.best.get(obj)
            if prev is None or self.duration[j] > prev[0]:
                self.best[obj] = (float(self.duration[j]), i)
                keep = True
                if prev is not None and prev[1] not in self.even and all(
                        f != prev[1] for _, f in self.best.values()):
                    self.kept.pop(prev[1], None)
        if keep and i not in self.kept:
            self.kept[i] = (content.caption(i), jpeg_bytes(img))
