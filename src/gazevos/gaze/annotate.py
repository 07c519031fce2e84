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

Output folder layout (``DIR``)::

    masks/00000.png ...    tracked objects, DAVIS palette, one per video frame
    gaze_samples.csv|.parquet   one row per gaze sample: frame, flag, object, hit, fixation
    fixations.csv|.parquet      one row per fixation: times, position, object, hit
    metrics.csv|.parquet        one row per object: dwell time, visits, ...
    transitions.csv|.parquet    fixation-to-fixation transitions between objects
    overlay.mp4                 masks, names, gaze, tolerance circle and fixations
    report.html                 summary, timeline, metrics (opens offline)
    summary.json                run settings and figures
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from gazevos.errors import GazevosError
from gazevos.gaze.correction import Correction, CorrectionConfig, fit_correction
from gazevos.gaze.fixations import FixationConfig, detect_fixations, sample_fixation_ids
from gazevos.gaze.geometry import CameraGeometry
from gazevos.gaze.mapping import GazeObjectMapper, MappingConfig, aggregate_fixations
from gazevos.gaze.metrics import aoi_metrics, transition_matrix, write_table
from gazevos.gaze.prompts import ObjectPrompt, check_prompts, prompts_label_map
from gazevos.gaze.sync import SyncConfig, check_frame_count, sync_gaze
from gazevos.io import open_frames, prepare_output_dir, read_mask, write_mask
from gazevos.io.atomic import atomic_write
from gazevos.io.recordings import Recording, read_recording
from gazevos.track import DEFAULT_TRACKER, Tracker, build_tracker

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
        report_frames: number of overlay frames shown in the report.
    """

    tolerance_deg: float = 1.5
    fixations: str = "i2mc"
    correct_calibration: str = "none"
    min_confidence: float = 0.6
    video: bool = True
    report_frames: int = 4


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
        timings: wall seconds of the stages (``track``, ``gaze``, ``outputs``).
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
def _run_key(rec: Recording, prompts: Sequence[ObjectPrompt], tracker: Tracker,
             n_frames: int) -> dict[str, Any]:
    """What the masks depend on: recording, frames, objects, tracker and its settings."""
    key = {"recording": str(Path(rec.root).resolve()), "video": str(rec.video_path),
           "n_frames": n_frames, "tracker": type(tracker).name,
           "tracker_config": repr(getattr(tracker, "config", None)),
           "prompts": [asdict(p) for p in prompts]}
    return json.loads(json.dumps(key, default=str))  # as it reads back from tracking.json


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
                  n_frames: int | None = None, progress: bool = True) -> tuple[int, float]:
    """Track prompted objects through a video, writing one palette PNG per frame.

    Prompts are turned into masks on their frame and given to the tracker there, so
    objects can start at any frame.  Frames before the first prompt get empty masks.
    Only one frame is in memory at a time.

    Args:
        video: the scene video.
        prompts: the objects and where they are given.
        tracker: a tracker (reset first).
        masks_dir: output folder (``00000.png``, ``00001.png``, ...).
        n_frames: stop after this many frames (None: the whole video).
        progress: show a tqdm bar.

    Returns:
        ``(frames, seconds)`` of the pass.
    """
    by_frame: dict[int, list[ObjectPrompt]] = {}
    for p in prompts:
        by_frame.setdefault(p.frame, []).append(p)
    source = open_frames(video)
    masks_dir = Path(masks_dir)
    masks_dir.mkdir(parents=True, exist_ok=True)
    tracker.reset()
    start = time.perf_counter()
    n = 0
    total = n_frames if n_frames is not None else (len(source) or None)
    for frame in tqdm(source, total=total, desc="track", unit="frame", disable=not progress):
        if n_frames is not None and frame.index >= n_frames:
            break
        given = by_frame.get(frame.index)
        if given:
            lm = prompts_label_map(given, frame.image)
            ids = [p.object_id for p in given if (lm == p.object_id).any()]
            lost = [p.name for p in given if p.object_id not in ids]
            if lost:
                raise GazevosError(f"object '{lost[0]}' is hidden by another object given on "
                                   f"frame {frame.index}")
            pred = tracker.step(frame.image, mask=lm, objects=ids)
        else:
            pred = tracker.step(frame.image)
        write_mask(masks_dir / f"{frame.index:05d}.png", np.asarray(pred.labels))
        n += 1
    return n, time.perf_counter() - start


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
                names: dict[int, str], cfg: AnnotateConfig) -> GazeTables:
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
    """
    synced = sync_gaze(rec, SyncConfig(min_confidence=cfg.min_confidence))
    samples = synced.samples
    t0 = float(synced.frame_times[0])
    samples.insert(1, "t", samples["time"] - t0)
    fix_cfg = FixationConfig(method=cfg.fixations, min_confidence=cfg.min_confidence)
    fixations = detect_fixations(samples, cfg.fixations, geometry, fix_cfg,
                                 device=rec.fixations)
    samples["fixation_id"] = sample_fixation_ids(samples, fixations)
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
    samples["object"] = samples["object_id"].map(lambda i: names.get(int(i), ""))
    fixations = aggregate_fixations(fixations, samples)
    fixations["object"] = fixations["object_id"].map(lambda i: names.get(int(i), ""))
    ids = sorted(names)
    metrics = aoi_metrics(samples, fixations, t0=t0, object_ids=ids)
    metrics.insert(1, "object", metrics["object_id"].map(lambda i: names.get(int(i),
                                                                               "(no object)")))
    transitions = transition_matrix(fixations, object_ids=ids)
    return GazeTables(samples, fixations, metrics, transitions, correction, synced.notes)


# ----------------------------------------------------------------------------- main
def annotate(recording: str | os.PathLike[str] | Recording, prompts: Sequence[ObjectPrompt],
             out_dir: str | os.PathLike[str], tracker: str | Tracker = DEFAULT_TRACKER,
             config: AnnotateConfig | None = None, force: bool = False, resume: bool = False,
             progress: bool = True, recording_format: str | None = None) -> AnnotateResult:
    """Annotate a recording end to end (see the module docstring).

    Args:
        recording: a recording folder (any supported format) or a read :class:`Recording`.
        prompts: the objects (:func:`gazevos.gaze.prompts.build_prompts`).
        out_dir: output folder; must be empty unless ``force`` or ``resume``.
        tracker: a tracker name (:data:`gazevos.track.TRACKERS`) or a built tracker.
        config: :class:`AnnotateConfig`.
        force: write into a non-empty folder, redoing everything.
        resume: reuse the masks of a previous run with the same recording, prompts and
            tracker when its tracking pass finished; redo the rest.
        progress: show tqdm progress bars.
        recording_format: the recording's format (None: detect).

    Raises:
        GazevosError: unreadable recording, video/timestamp mismatch, bad prompts, ...
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
        raise GazevosError("recording has no scene video to annotate", rec.root)
    n_frames, notes = check_frame_count(rec)
    check_prompts(list(prompts), rec.resolution, n_frames)
    geometry = CameraGeometry.from_recording(rec)
    trk = tracker if isinstance(tracker, Tracker) else build_tracker(tracker)
    tracker_name = tracker if isinstance(tracker, str) else type(tracker).name
    out = prepare_output_dir(out_dir, force=force, resume=resume)
    names = {p.object_id: p.name for p in prompts}

    key = _run_key(rec, prompts, trk, n_frames)
    done_file = out / "tracking.json"
    done: dict[str, Any] = {}
    if resume and done_file.is_file():
        try:
            done = json.loads(done_file.read_text())
        except (OSError, ValueError):
            done = {}
    resumed = done.get("key") == key and all(
        (out / MASKS_DIR / f"{i:05d}.png").is_file() for i in range(n_frames))
    if resumed:
        track_s = float(done.get("seconds", 0.0))
    else:
        done_file.unlink(missing_ok=True)
        n, track_s = track_objects(rec.video_path, prompts, trk, out / MASKS_DIR, n_frames,
                                   progress)
        if n != n_frames:
            raise GazevosError(f"the video ended after {n} frames; its header and the frame "
                               f"timestamps say {n_frames}", rec.video_path)
        _write_json(done_file, {"key": key, "frames": n, "seconds": track_s,
                                "fps": n / max(track_s, 1e-9)})

    t_gaze = time.perf_counter()
    tables = gaze_tables(rec, out / MASKS_DIR, geometry, names, cfg)
    files = [f"{MASKS_DIR}/"]
    for stem, df, index in (("gaze_samples", tables.samples, False),
                            ("fixations", tables.fixations, False),
                            ("metrics", tables.metrics, False),
                            ("transitions", tables.transitions, True)):
        files += [p.name for p in write_table(df, out / stem, index=index)]
    result = AnnotateResult(out, n_frames, track_s, 0.0, resumed, tables.samples,
                            tables.fixations, tables.metrics, tables.transitions,
                            tables.correction, files, notes + tables.notes,
                            {"track": track_s, "gaze": time.perf_counter() - t_gaze})
    from gazevos.report.annotation import write_outputs

    write_outputs(result, rec, prompts, tracker_name, geometry, cfg, progress, t_start)
    return result
