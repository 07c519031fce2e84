"""The whole job: track the marked objects, map gaze and fixations onto them, report.

:func:`annotate` runs, in order, with constant memory whatever the video length:

1. read the recording (:func:`gazevos.io.recordings.read_recording`) and check that its
   video and frame timestamps agree and that every object prompt fits the video;
2. **track**: stream the video once; on each frame that has prompts, turn them into masks
   (:mod:`gazevos.gaze.prompts`) and give them to the tracker; write one DAVIS palette PNG
   per frame to ``masks/`` (skipped on ``resume`` when a previous run finished it);
3. **gaze**: put each gaze sample on its video frame with a quality flag, detect
   fixations, optionally fit and apply a calibration correction, then map every valid
   sample onto its frame's mask with a tolerance of ``tolerance_deg`` of visual angle
   (reading the masks back one at a time), give each fixation an object, and compute
   per-object metrics and transitions;
4. **write**: tables (CSV + Parquet), ``overlay.mp4`` (second pass over the video), a
   self-contained ``report.html`` and ``summary.json``.

Steps 2-4 overlap: the sync and the fixation detection start with the tracking pass, and
without a calibration correction the mapping and the overlay video follow the masks as
they are written (:mod:`gazevos.report.trailing`), so little is left when tracking ends.
The overlay is drawn on the tracker's frames; those it cannot draw yet wait in memory or,
at most 600 of them, in a ``.overlay-frames/`` folder of the staging folder (removed
before the run is committed).

Output folder layout (``DIR``)::

    masks/00000.png ...    tracked objects, DAVIS palette, one per video frame
    gaze_samples.csv|.parquet   one row per gaze sample: frame, flag, object, hit, fixation
    fixations.csv|.parquet      one row per fixation: times, position, object, hit
    metrics.csv|.parquet        one row per object: dwell time, visits, ...
    transitions.csv|.parquet    fixation-to-fixation transitions between objects
    overlay.mp4                 masks, names, gaze, tolerance circle and fixations
    report.html                 summary, timeline, metrics (opens offline)
    summary.json                run settings and figures
    aoi/                        object states, dwell, visits, first fixations, transitions,
                                entropies (CSV + Parquet; :mod:`gazevos.gaze.aoi_tables`)
    manifest.json               the run's settings and input fingerprints, written last
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.gaze.correction import Correction, CorrectionConfig, fit_correction
from gazevos.gaze.events import GazeEvents, gaze_events, start_gaze_events
from gazevos.gaze.geometry import CameraGeometry
from gazevos.gaze.mapping import GazeObjectMapper, MappingConfig, aggregate_fixations
from gazevos.gaze.metrics import aoi_metrics, transition_matrix, write_table
from gazevos.gaze.prompts import ObjectPrompt, check_prompts, prompts_label_map
from gazevos.gaze.sync import SyncConfig, check_frame_count, sync_gaze
from gazevos.io import open_frames, read_mask, write_mask
from gazevos.io.atomic import atomic_write
from gazevos.io.frames import Frame
from gazevos.io.recordings import Recording, read_recording
from gazevos.io.rundir import RunDir, fingerprint, link_tree, normalise_key, run_folder
from gazevos.track import DEFAULT_TRACKER, Tracker, build_tracker
from gazevos.track.resumable import track_pass, tracker_identity

#: calibration-correction modes of :attr:`AnnotateConfig.correct_calibration`
CORRECTIONS = ("none", "offset", "offset-scale", "offset-scale-xy")
MASKS_DIR = "masks"


@dataclass(frozen=True)
class AnnotateConfig:
    """Settings of :func:`annotate`.

    Attributes:
        tolerance_deg: a sample is *near* an object within this visual angle of its mask.
        fixations: ``i2mc``, ``idt``, ``ivt`` or ``device``.
        correct_calibration: ``none``, ``offset`` or ``offset-scale`` (fit a correction of
            the gaze from the fixations and the tracked objects, then apply it).
        min_confidence: samples with a lower device confidence are flagged, not used.
        video: write ``overlay.mp4``.
        video_width: the overlay video (and the report's pictures) are drawn at most this
            many pixels wide (0: the scene video's width); a 1080p overlay costs about
            four times as much to draw and encode as a 960-pixel one.
        report_frames: number of overlay frames shown in the report.
        min_usable_fraction: under this share of usable gaze samples the run warns (on
            the terminal and at the top of the report).
        aoi_tables: also write the research AOI tables (:mod:`gazevos.gaze.aoi_tables`:
            per-frame object states, strict and tolerant dwell, visits, first fixations,
            transitions and entropies) to ``aoi/``.
        track_rate: 0 (the default): the tracker runs on every frame.  Otherwise it runs
            on at least this many frames per second of video: on every
            ``floor(fps / track_rate)``-th frame, and the frames in between take the nearer
            tracked frame's masks.  Faster but less accurate: on DAVIS-2016 dev (24
            frames/s) every second frame gave J&F 0.594 against 0.687
            (``bench/stride_accuracy.py``), so it is off by default.
    """

    tolerance_deg: float = 1.5
    fixations: str = "i2mc"
    correct_calibration: str = "none"
    min_confidence: float = 0.6
    video: bool = True
    video_width: int = 960
    report_frames: int = 4
    aoi_tables: bool = True
    min_usable_fraction: float = 0.5
    track_rate: float = 0.0


@dataclass
class AnnotateResult:
    """What :func:`annotate` wrote and measured.

    Attributes:
        out_dir: the output folder.
        n_frames: video frames (and masks).
        track_seconds: wall time of the tracking pass (decode + track + write masks).
        total_seconds: wall time of the whole run.
        tracking_resumed: masks were taken from a previous finished run.
        samples, fixations, metrics, transitions: the tables written.
        correction: the fitted calibration correction (None when off).
        files: written files, relative to ``out_dir``.
        notes: remarks worth showing (e.g. a tolerated frame-count difference).
        timings: wall seconds of the stages (``track``, ``gaze``, ``outputs``, ``aoi``;
            ``after tracking``: what the passes trailing the tracker took after it ended,
            part of ``gaze``).
    """

    out_dir: Path
    n_frames: int
    track_seconds: float
    total_seconds: float
    tracking_resumed: bool
    samples: pd.DataFrame
    fixations: pd.DataFrame
    metrics: pd.DataFrame
    transitions: pd.DataFrame
    correction: Correction | None = None
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def track_fps(self) -> float:
        """Frames per second of the tracking pass."""
        return self.n_frames / max(self.track_seconds, 1e-9)


# ----------------------------------------------------------------------------- helpers
def recording_fingerprint(rec: Recording) -> str:
    """A content fingerprint of what was read from a recording: the scene video's file
    fingerprint and the bytes of the frame times, gaze, device fixations and intrinsics
    (so a changed export changes it, and moving the folder does not)."""
    h = hashlib.sha256()
    if rec.video_path is not None:
        h.update(fingerprint(rec.video_path).encode())
    h.update(np.ascontiguousarray(rec.frame_times, dtype=np.float64).tobytes())
    h.update(repr(tuple(rec.resolution)).encode())
    for df in (rec.gaze, rec.fixations):
        if df is not None:
            h.update(",".join(map(str, df.columns)).encode())
            h.update(np.ascontiguousarray(df.to_numpy(np.float64)).tobytes())
    if rec.intrinsics is not None:
        h.update(np.ascontiguousarray(rec.intrinsics.camera_matrix, np.float64).tobytes())
        h.update(np.ascontiguousarray(rec.intrinsics.dist_coeffs, np.float64).tobytes())
        h.update(rec.intrinsics.model.encode())
    return h.hexdigest()


def track_stride(frame_times: np.ndarray, track_rate: float) -> int:
    """Track every this-many-th frame so that at least ``track_rate`` frames of each
    second of video are tracked (1 when ``track_rate`` is 0 or the rate is unknown).

    ``frame_times``: ``(F,)`` seconds; the video's rate is one over the median interval.
    """
    if track_rate <= 0 or len(frame_times) < 2:
        return 1
    dt = float(np.median(np.diff(np.asarray(frame_times, dtype=np.float64))))
    if not np.isfinite(dt) or dt <= 0:
        return 1
    return max(1, int(np.floor(1.0 / (dt * track_rate) + 1e-6)))


def _run_key(rec: Recording, prompts: Sequence[ObjectPrompt], tracker: Tracker,
             n_frames: int, cfg: AnnotateConfig) -> dict[str, Any]:
    """What the outputs depend on: ``track`` (recording, frames, objects, tracker: what
    the masks depend on) and ``settings`` (the gaze and report settings)."""
    objects = []
    for p in prompts:
        d = asdict(p)
        if p.mask_path is not None:
            d["mask_fingerprint"] = fingerprint(p.mask_path)
        objects.append(d)
    track = {"recording": recording_fingerprint(rec), "video": str(rec.video_path),
             "n_frames": n_frames, "tracker": tracker_identity(tracker), "prompts": objects}
    stride = track_stride(rec.frame_times[:n_frames], cfg.track_rate)
    if stride > 1:   # only then: runs made before strided tracking keep their keys
        track["stride"] = stride
    return normalise_key({"track": track, "settings": asdict(cfg)})


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))


def mask_reader(masks_dir: str | os.PathLike[str]) -> Callable[[int], np.ndarray | None]:
    """``frame_index -> (H, W) label map`` read from ``masks_dir/NNNNN.png`` (None if absent)."""
    folder = Path(masks_dir)

    def read(index: int) -> np.ndarray | None:
        path = folder / f"{index:05d}.png"
        return read_mask(path) if path.is_file() else None

    return read


# ----------------------------------------------------------------------------- tracking
def track_objects(video: str | os.PathLike[str], prompts: Sequence[ObjectPrompt],
                  tracker: Tracker, masks_dir: str | os.PathLike[str],
                  n_frames: int | None = None, progress: bool = True,
                  state_path: str | os.PathLike[str] | None = None, key: Any = None,
                  checkpoint_seconds: float = 30.0, stride: int = 1,
                  stats: dict[str, Any] | None = None,
                  on_written: Callable[[Frame, np.ndarray], None] | None = None
                  ) -> tuple[int, float]:
    """Track prompted objects through a video, writing one palette PNG per frame.

    Prompts are turned into masks on their frame and given to the tracker there, so
    objects can start at any frame.  Frames before the first prompt get empty masks.
    A few frames are in memory at a time (decoded ahead and written behind the tracker in
    threads, :mod:`gazevos.io.pipeline`).  With ``state_path`` the pass saves its state
    every ``checkpoint_seconds`` and continues from a state saved there for the same
    ``key`` (:func:`gazevos.track.resumable.track_pass`).

    Args:
        video: the scene video.
        prompts: the objects and where they are given.
        tracker: a tracker (reset first).
        masks_dir: output folder (``00000.png``, ``00001.png``, ...).
        n_frames: stop after this many frames (None: the whole video).
        progress: show a tqdm bar.
        state_path: the resumable pass state (None: not resumable).
        key: what the pass depends on (a state saved for another key is ignored).
        checkpoint_seconds: how often the state is saved.
        stride: track every this-many-th frame (others take the nearer tracked frame's
            masks; :func:`gazevos.track.resumable.track_pass`).
        stats: filled with the stride, the frame this invocation resumed at and the CPU
            seconds of decoding, tracking and writing (for ``tracking.json``).
        on_written: called with each frame and its ``(H, W)`` labels once its mask is on
            disk (in frame order; the passes trailing the tracker,
            :mod:`gazevos.report.trailing`).

    Returns:
        ``(frames, seconds)`` of the pass (over all resumed invocations).
    """
    by_frame: dict[int, list[ObjectPrompt]] = {}
    for p in prompts:
        by_frame.setdefault(p.frame, []).append(p)
    source = open_frames(video)
    masks_dir = Path(masks_dir)
    masks_dir.mkdir(parents=True, exist_ok=True)

    def prompter(frame: Frame) -> tuple[np.ndarray | None, list[int] | None]:
        given = by_frame.get(frame.index)
        if not given:
            return None, None
        lm = prompts_label_map(given, frame.image)
        ids = [p.object_id for p in given if (lm == p.object_id).any()]
        lost = [p.name for p in given if p.object_id not in ids]
        if lost:
            raise GazevosError(f"object '{lost[0]}' is hidden by another object given on "
                               f"frame {frame.index}")
        return lm, ids

    def writer(frame: Frame, labels: np.ndarray) -> None:
        write_mask(masks_dir / f"{frame.index:05d}.png", labels)
        if on_written is not None:
            on_written(frame, labels)

    total = n_frames if n_frames is not None else (len(source) or None)
    done = track_pass(source, tracker, prompter, writer, state_path=state_path, key=key,
                      n_frames=total, checkpoint_seconds=checkpoint_seconds,
                      progress=progress, stride=stride)
    if stats is not None:
        stats.update({"resumed_at": done.resumed_at, "cpu_seconds": done.cpu_seconds,
                      "stride": stride})
    return done.frames, done.seconds


# ----------------------------------------------------------------------------- gaze
@dataclass
class GazeTables:
    """The gaze results of one run (see :func:`gaze_tables`).

    Attributes:
        samples: synced and mapped gaze samples (one row per recorded sample).
        fixations: fixations with their object.
        metrics: AOI metrics per object (background row ``object_id`` 0).
        transitions: transition counts, index ``from_object``, columns ``to_object``.
        correction: the fitted calibration correction (None when off).
        notes: remarks (e.g. a tolerated frame-count difference).
    """

    samples: pd.DataFrame
    fixations: pd.DataFrame
    metrics: pd.DataFrame
    transitions: pd.DataFrame
    correction: Correction | None
    notes: list[str] = field(default_factory=list)


def gaze_tables(rec: Recording, masks_dir: str | os.PathLike[str], geometry: CameraGeometry,
                names: dict[int, str], cfg: AnnotateConfig,
                events: GazeEvents | None = None,
                labels: Callable[[int], np.ndarray | None] | None = None) -> GazeTables:
    """Sync, fixations, optional calibration correction, mapping and metrics.

    Masks are read back from ``masks_dir`` one frame at a time.  With a correction, the
    ``x``/``y`` columns of samples and fixations are the corrected positions and the
    recorded ones are kept as ``x_raw``/``y_raw``.

    Args:
        rec: the recording.
        masks_dir: the folder of per-frame palette masks (``00000.png`` ...).
        geometry: the scene camera.
        names: object id -> name.
        cfg: settings.
        events: the synced samples and fixations when already made
            (:func:`gazevos.gaze.events.gaze_events`, e.g. beside the tracking pass).
        labels: ``frame -> label map`` (default: :func:`mask_reader` of ``masks_dir``).
    """
    if events is None:
        events = gaze_events(rec, geometry, cfg.fixations, cfg.min_confidence,
                             cfg.min_usable_fraction)
    synced, samples, fixations, t0 = events.synced, events.samples, events.fixations, events.t0
    if labels is None:
        labels = mask_reader(masks_dir)
    correction = None
    if cfg.correct_calibration != "none":
        model = cfg.correct_calibration.replace("-", "_")
        correction = fit_correction(fixations, labels, geometry, CorrectionConfig(model=model))
        samples = correction.apply_gaze(samples)
        fixations = correction.apply_gaze(fixations)
    mapper = GazeObjectMapper(geometry, MappingConfig(tolerance_deg=cfg.tolerance_deg,
                                                      min_confidence=cfg.min_confidence))
    samples = mapper.map_gaze(samples, labels)
    fixations = aggregate_fixations(fixations, samples)
    return object_tables(samples, fixations, names, t0, correction, synced.notes)


def object_tables(samples: pd.DataFrame, fixations: pd.DataFrame, names: dict[int, str],
                  t0: float, correction: Correction | None = None,
                  notes: Sequence[str] = ()) -> GazeTables:
    """Name the objects of mapped samples and fixations and compute the metrics and the
    transitions (what :func:`gaze_tables` ends with, and the studio after an override)."""
    samples["object"] = samples["object_id"].map(lambda i: names.get(int(i), ""))
    fixations["object"] = fixations["object_id"].map(lambda i: names.get(int(i), ""))
    ids = sorted(names)
    metrics = aoi_metrics(samples, fixations, t0=t0, object_ids=ids)
    metrics.insert(1, "object", metrics["object_id"].map(lambda i: names.get(int(i),
                                                                               "(no object)")))
    transitions = transition_matrix(fixations, object_ids=ids)
    return GazeTables(samples, fixations, metrics, transitions, correction, list(notes))


def write_gaze_tables(tables: GazeTables, out: Path) -> list[str]:
    """Write the samples, fixations, metrics and transitions tables (CSV + Parquet) into
    ``out``; the names of the files written."""
    files: list[str] = []
    for stem, df, index in (("gaze_samples", tables.samples, False),
                            ("fixations", tables.fixations, False),
                            ("metrics", tables.metrics, False),
                            ("transitions", tables.transitions, True)):
        files += [p.name for p in write_table(df, out / stem, index=index)]
    return files


# ----------------------------------------------------------------------------- main
TRACK_STATE = ".track-state.pt"


def annotate(recording: str | os.PathLike[str] | Recording, prompts: Sequence[ObjectPrompt],
             out_dir: str | os.PathLike[str], tracker: str | Tracker = DEFAULT_TRACKER,
             config: AnnotateConfig | None = None, force: bool = False, resume: bool = False,
             progress: bool = True, recording_format: str | None = None,
             manifest_extra: dict[str, Any] | None = None,
             checkpoint_seconds: float = 30.0) -> AnnotateResult:
    """Annotate a recording end to end (see the module docstring).

    The run follows the output contract of :mod:`gazevos.io.rundir`: it writes into a
    staging folder moved into place when complete, ``manifest.json`` last.

    Args:
        recording: a recording folder (any supported format) or a read :class:`Recording`.
        prompts: the objects (:func:`gazevos.gaze.prompts.build_prompts`).
        out_dir: output folder; must be empty unless ``force`` or ``resume``.
        tracker: a tracker name (:data:`gazevos.track.TRACKERS`) or a built tracker.
        config: :class:`AnnotateConfig`.
        force: replace a previous run in ``out_dir`` when this one completes.
        resume: continue an interrupted run of the same recording, objects, tracker and
            settings from its last saved tracking state; or, when ``out_dir`` holds a
            complete run with the same recording, objects and tracker, reuse its masks and
            redo the rest (other gaze settings).
        progress: show tqdm progress bars.
        recording_format: the recording's format (None: detect).
        manifest_extra: stored in ``manifest.json`` under ``"extra"``.
        checkpoint_seconds: how often the tracking pass saves its state for ``resume``.

    Raises:
        GazevosError: unreadable recording, video/timestamp mismatch, bad prompts, ...
    """
    job = prepare_annotation(recording, prompts, tracker, config, recording_format)
    with run_folder(out_dir, "annotate", job.key, force=force, resume=resume,
                    extra=manifest_extra) as run:
        result = annotate_in(run, job, resume=resume, progress=progress,
                             checkpoint_seconds=checkpoint_seconds)
    result.out_dir = run.final
    return result


@dataclass
class AnnotationJob:
    """A checked annotation job (:func:`prepare_annotation`), ready to run."""

    rec: Recording
    prompts: list[ObjectPrompt]
    tracker: Tracker
    tracker_name: str
    cfg: AnnotateConfig
    n_frames: int
    notes: list[str]
    geometry: CameraGeometry
    key: dict[str, Any]
    started: float


def prepare_annotation(recording: str | os.PathLike[str] | Recording,
                       prompts: Sequence[ObjectPrompt], tracker: str | Tracker = DEFAULT_TRACKER,
                       config: AnnotateConfig | None = None,
                       recording_format: str | None = None) -> AnnotationJob:
    """Read and check everything before any output is written: the recording, its video
    and timestamps, the prompts against the video, the settings; build the tracker.

    Raises:
        GazevosError: whatever is wrong, before anything is written.
    """
    cfg = config or AnnotateConfig()
    t_start = time.perf_counter()
    if cfg.correct_calibration not in CORRECTIONS:
        raise GazevosError(f"unknown calibration correction '{cfg.correct_calibration}' "
                           f"(choose from {', '.join(CORRECTIONS)})")
    if not prompts:
        raise GazevosError("no object given to annotate")
    rec = (recording if isinstance(recording, Recording)
           else read_recording(recording, format=recording_format))
    if rec.video_path is None:
        raise GazevosError("recording has no scene video to annotate"
                           + (f" ({rec.notes[0]})" if rec.notes else ""), rec.root)
    n_frames, notes = check_frame_count(rec)
    notes = [*rec.notes, *notes]  # what the reader found missing or doubtful comes first
    check_prompts(list(prompts), rec.resolution, n_frames, rec.video_path)
    # unusable gaze is an error before an hour of tracking, not after it (the warning about
    # doubtful gaze comes with the gaze stage)
    sync_gaze(rec, SyncConfig(min_confidence=cfg.min_confidence, check_video=False,
                              min_usable_fraction=0.0))
    geometry = CameraGeometry.from_recording(rec)
    trk = tracker if isinstance(tracker, Tracker) else build_tracker(tracker)
    tracker_name = tracker if isinstance(tracker, str) else type(tracker).name
    key = _run_key(rec, prompts, trk, n_frames, cfg)
    return AnnotationJob(rec, list(prompts), trk, tracker_name, cfg, n_frames, notes,
                         geometry, key, t_start)


def annotate_in(run: RunDir, job: AnnotationJob, resume: bool = False, progress: bool = True,
                checkpoint_seconds: float = 30.0) -> AnnotateResult:
    """Run ``job`` into ``run.stage`` (tracking resumed or reused as :func:`annotate`
    describes); the caller commits the run."""
    rec, prompts, cfg, n_frames = job.rec, job.prompts, job.cfg, job.n_frames
    names = {p.object_id: p.name for p in prompts}
    key = job.key
    out = run.stage
    done_file = out / "tracking.json"
    prev = run.previous
    reused = False
    track_s = 0.0
    if (resume and not run.resumed and prev is not None
            and prev.get("command") == "annotate"
            and prev.get("key", {}).get("track") == key["track"]
            and (run.final / MASKS_DIR).is_dir()):
        link_tree(run.final / MASKS_DIR, out / MASKS_DIR)
        reused = True
        try:
            track_s = float(json.loads((run.final / "tracking.json").read_text())
                            .get("seconds", 0.0))
        except (OSError, ValueError):
            track_s = 0.0
    tracked = reused or (run.resumed and done_file.is_file())
    # sync and fixations need no masks: they run beside the tracking pass
    events = start_gaze_events(rec, job.geometry, cfg.fixations, cfg.min_confidence,
                               cfg.min_usable_fraction)
    # ... and so do the mapping and the overlay video, trailing the masks on disk (not
    # with a calibration correction, which is fitted on all the masks first)
    trailing = None
    if cfg.correct_calibration == "none":
        from gazevos.report.trailing import TrailingOutputs

        # a pass tracking from the first frame hands its frames to the overlay
        trailing = TrailingOutputs(out, rec, names, cfg, job.geometry, events, n_frames,
                                   masks_done=n_frames if tracked else 0,
                                   fed=not tracked and not (out / TRACK_STATE).is_file())
    if tracked and not reused:
        track_s = float(json.loads(done_file.read_text()).get("seconds", 0.0))
    elif not tracked:
        stats: dict[str, Any] = {}
        try:
            n, track_s = track_objects(
                rec.video_path, prompts, job.tracker, out / MASKS_DIR, n_frames, progress,
                state_path=out / TRACK_STATE, key=key["track"],
                checkpoint_seconds=checkpoint_seconds, stride=key["track"].get("stride", 1),
                stats=stats, on_written=None if trailing is None else trailing.written)
            if n != n_frames:
                raise GazevosError(f"the video ended after {n} frames; its header and the "
                                   f"frame timestamps say {n_frames}", rec.video_path)
        except BaseException:
            if trailing is not None:
                trailing.abort()
            raise
        _write_json(done_file, {"frames": n, "seconds": track_s,
                                "fps": n / max(track_s, 1e-9), **stats})
        (out / TRACK_STATE).unlink(missing_ok=True)
    if reused:
        _write_json(done_file, {"frames": n_frames, "seconds": track_s,
                                "fps": n_frames / max(track_s, 1e-9), "reused": True})

    from gazevos.gaze.aoi_tables import MaskStatsReader, recording_tables, write_recording_tables
    from gazevos.report.annotation import write_outputs

    t_gaze = time.perf_counter()
    masks = None
    drawn = None
    timings = {"track": track_s}
    try:
        if trailing is not None:
            done = trailing.finish(progress)
            ev = events.result()
            tables = object_tables(done.samples, aggregate_fixations(ev.fixations, done.samples),
                                   names, ev.t0, None, ev.synced.notes)
            frame_stats = done.stats.__getitem__
            drawn = done.pictures if done.video else None
            timings["after tracking"] = done.seconds
        else:
            # masks read ahead in a thread; the AOI tables reuse what the mapping read
            masks = MaskStatsReader(out / MASKS_DIR, sorted(names), n_frames=n_frames)
            tables = gaze_tables(rec, out / MASKS_DIR, job.geometry, names, cfg,
                                 events.result(), labels=masks)
            frame_stats = masks.stats
        files = [f"{MASKS_DIR}/", *write_gaze_tables(tables, out)]
        result = AnnotateResult(out, n_frames, track_s, 0.0, reused, tables.samples,
                                tables.fixations, tables.metrics, tables.transitions,
                                tables.correction, files, job.notes + tables.notes,
                                {**timings, "gaze": time.perf_counter() - t_gaze})
        write_outputs(result, rec, prompts, job.tracker_name, job.geometry, cfg, progress,
                      job.started, drawn)
        if cfg.aoi_tables:
            t_aoi = time.perf_counter()
            write_recording_tables(recording_tables(out, rec.frame_times[:n_frames],
                                                    frame_stats=frame_stats), out / "aoi")
            result.files.append("aoi/")
            result.timings["aoi"] = time.perf_counter() - t_aoi
    finally:
        if masks is not None:
            masks.close()
    return result
