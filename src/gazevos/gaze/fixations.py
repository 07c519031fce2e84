"""Fixation detection on head-camera gaze: I2MC, I-DT, I-VT, or the device's own fixations.

Every detector runs on the same prepared signal:

1. *valid samples*: a sample takes part when its ``flag`` is ``"ok"`` (the column the gaze/video
   sync adds) or, without a ``flag`` column, when its position is finite and its confidence is
   at least :attr:`FixationConfig.min_confidence`.  Other samples are ignored for detection but
   never dropped from any table.
2. *degrees*: pixels become viewing rays through the camera geometry (intrinsics, or a pinhole of
   a stated field of view) and rays become positions in degrees on the *equivalent screen*, the
   azimuthal-equidistant projection of :func:`gazevos.gaze.geometry.rays_to_screen_degrees`.
3. *uniform grid*: the detectors assume a constant sampling rate (I2MC's windows, pymovements'
   integer timesteps) while wearable trackers deliver jittered, interleaved samples; positions
   are linearly interpolated onto a grid of :attr:`FixationConfig.grid_hz` (0: automatic, the
   smallest of 150/200/250/300/500/1000 Hz not below 0.9x the median native rate; 150 Hz is the
   lowest rate at which I2MC's default 200 ms window still holds the 25 samples its Chebyshev
   filter needs).  Grid points inside a gap between valid samples longer than
   :attr:`FixationConfig.max_gap` are missing (NaN).

Fixations found on the grid are reported on the original samples: a fixation spans the valid
samples lying within its first and last grid points (+- half a grid step); ``start`` and ``end``
are the times of its first and last valid sample, ``duration = end - start`` and ``x, y`` the
mean pixel position of those samples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.gaze.geometry import CameraGeometry

#: Methods accepted by :func:`detect_fixations`.
METHODS = ("i2mc", "idt", "ivt", "device")
#: Columns of the fixation table (``start_frame``/``end_frame`` follow when gaze has ``frame``).
FIXATION_TABLE_COLUMNS = ("fixation_id", "start", "end", "duration", "x", "y", "n_samples")
_GRID_RATES = (150.0, 200.0, 250.0, 300.0, 500.0, 1000.0)


@dataclass(frozen=True)
class IDTConfig:
    """Dispersion-threshold (I-DT) detection, defaults of Pupil Core's fixation detector.

    Attributes:
        dispersion_deg: dispersion threshold in degrees.  pymovements measures dispersion as
            ``(max x - min x) + (max y - min y)`` (Salvucci & Goldberg); Pupil Core uses the
            largest pairwise angle, which is never larger, so the same 1.5 deg is a little
            stricter here.
        min_duration: shortest fixation (s).
        max_duration: longest fixation (s); longer ones are cut into consecutive pieces of this
            length, as Pupil Core's detector ends a fixation when it reaches the maximum (a last
            piece shorter than ``min_duration`` is dropped).  None: no maximum.
    """

    dispersion_deg: float = 1.5
    min_duration: float = 0.08
    max_duration: float | None = 0.22


@dataclass(frozen=True)
class IVTConfig:
    """Velocity-threshold (I-VT) detection.

    Attributes:
        velocity_threshold: samples slower than this (deg/s) are fixation samples.
        min_duration: shortest fixation (s).
        max_duration: longest fixation (s), cut as in :class:`IDTConfig`; None: no maximum.
        velocity_method: pymovements ``pos2vel`` method (``smooth``: Engbert's 5-sample
            difference; ``neighbors``; ``preceding``).
    """

    velocity_threshold: float = 30.0
    min_duration: float = 0.08
    max_duration: float | None = None
    velocity_method: str = "smooth"


@dataclass(frozen=True)
class I2MCConfig:
    """I2MC (identification by two-means clustering; Hessels et al., 2017) settings.

    Defaults are the ``I2MC`` package's, with its pixel distance turned into degrees: the
    package's 30 px merge distance is 0.7 deg on the example screen of its documentation
    (1920 px over 50.9 cm at 65 cm).

    Attributes:
        window: clustering window (s).
        step: window shift (s).
        downsamples: downsampling factors; each must divide the grid rate.
        downsample_filter: Chebyshev low-pass before downsampling.
        cheby_order: order of that filter.
        max_errors: clustering errors tolerated before giving up.
        cutoff_std: fixation cut-off, in standard deviations above the mean clustering weight.
        onoffset_thresh: MADs from the fixation median allowed when refining on/offsets.
        max_merge_dist_deg: merge consecutive fixations closer than this (deg)...
        max_merge_time: ... and separated by less than this (s).
        min_duration: shortest fixation after merging (s).
        interp_window: longest gap (s) I2MC interpolates over itself.
        interp_edge_samples: valid samples needed at each side of a gap to interpolate it.
        seed: seed of the k-means initialisation (I2MC draws from numpy's global generator;
            it is seeded for the call and restored after, so results are reproducible).
    """

    window: float = 0.2
    step: float = 0.02
    downsamples: tuple[int, ...] = (2, 5, 10)
    downsample_filter: bool = True
    cheby_order: int = 8
    max_errors: int = 100
    cutoff_std: float = 2.0
    onoffset_thresh: float = 3.0
    max_merge_dist_deg: float = 0.7
    max_merge_time: float = 0.03
    min_duration: float = 0.04
    interp_window: float = 0.1
    interp_edge_samples: int = 2
    seed: int = 0


@dataclass(frozen=True)
class FixationConfig:
    """Fixation detection: method, sample validity, resampling, and per-method settings.

    Attributes:
        method: ``i2mc`` (default: robust to the noise of wearable trackers), ``idt``, ``ivt``
            or ``device`` (the export's own fixations).
        min_confidence: confidence below which a sample is invalid, used only when the gaze
            table has no ``flag`` column (0.6: Pupil Labs' advice for useful data).
        grid_hz: resampling rate (Hz); 0 picks it from the data (see the module docstring).
        max_gap: gaps between valid samples longer than this (s) stay missing on the grid.
    """

    method: str = "i2mc"
    min_confidence: float = 0.6
    grid_hz: float = 0.0
    max_gap: float = 0.05
    i2mc: I2MCConfig = field(default_factory=I2MCConfig)
    idt: IDTConfig = field(default_factory=IDTConfig)
    ivt: IVTConfig = field(default_factory=IVTConfig)


# --------------------------------------------------------------------- sample validity
def valid_samples(gaze: pd.DataFrame, min_confidence: float = 0.6) -> np.ndarray:
    """``(N,)`` bool: samples usable for detection and mapping.

    Finite ``time``/``x``/``y``, and ``flag == "ok"`` when the table has a ``flag`` column,
    otherwise ``confidence >= min_confidence``.
    """
    for col in ("time", "x", "y"):
        if col not in gaze.columns:
            raise GazevosError(f"gaze table has no '{col}' column")
    finite = (np.isfinite(gaze["x"].to_numpy(float)) & np.isfinite(gaze["y"].to_numpy(float))
              & np.isfinite(gaze["time"].to_numpy(float)))
    if "flag" in gaze.columns:
        return (gaze["flag"].to_numpy() == "ok") & finite
    if "confidence" in gaze.columns:
        return finite & (gaze["confidence"].to_numpy(float) >= min_confidence)
    return finite


def _check_sorted(times: np.ndarray) -> None:
    if len(times) > 1 and np.any(np.diff(times) < 0):
        raise GazevosError("gaze samples are not in time order")


# --------------------------------------------------------------------- uniform grid
@dataclass
class GazeGrid:
    """Valid gaze resampled on a uniform time grid.

    Attributes:
        times: ``(G,)`` grid times (s).
        pos: ``(G, 2)`` equivalent-screen positions (deg); NaN where missing.
        hz: grid rate.
    """

    times: np.ndarray
    pos: np.ndarray
    hz: float


def choose_grid_hz(times: np.ndarray) -> float:
    """The automatic grid rate for valid sample ``times`` (s), see the module docstring."""
    dt = np.diff(np.unique(times))
    if len(dt) == 0:
        return _GRID_RATES[0]
    native = 1.0 / float(np.median(dt))
    for rate in _GRID_RATES:
        if rate >= 0.9 * native:
            return rate
    return _GRID_RATES[-1]


def resample_gaze(times: np.ndarray, pos: np.ndarray, hz: float, max_gap: float) -> GazeGrid:
    """Linear interpolation of valid samples ``pos`` ``(N, 2)`` at ``times`` onto a grid.

    Duplicate timestamps are averaged.  Grid points inside a gap longer than ``max_gap``
    between two samples are NaN.
    """
    t_unique, inverse = np.unique(times, return_inverse=True)
    if len(t_unique) < len(times):
        counts = np.bincount(inverse)
        pos = np.stack([np.bincount(inverse, pos[:, k]) / counts for k in range(2)], axis=1)
    n = int(np.floor((t_unique[-1] - t_unique[0]) * hz + 1e-9)) + 1
    grid_t = t_unique[0] + np.arange(n) / hz
    gp = np.stack([np.interp(grid_t, t_unique, pos[:, k]) for k in range(2)], axis=1)
    right = np.clip(np.searchsorted(t_unique, grid_t, side="left"), 0, len(t_unique) - 1)
    left = np.clip(right - 1, 0, None)
    exact = np.isclose(t_unique[right], grid_t, rtol=0.0, atol=1e-9)
    gap = t_unique[right] - t_unique[left]
    gp[(gap > max_gap) & ~exact] = np.nan
    return GazeGrid(grid_t, gp, float(hz))


def _split_long(on: np.ndarray, off: np.ndarray, max_len: int | None,
                min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut index ranges ``[on, off]`` (inclusive) longer than ``max_len`` samples."""
    if max_len is None:
        return on, off
    out_on, out_off = [], []
    for a, b in zip(on, off, strict=True):
        while b - a + 1 > max_len:
            out_on.append(a)
            out_off.append(a + max_len - 1)
            a = a + max_len
        if b - a + 1 >= min_len:
            out_on.append(a)
            out_off.append(b)
    return np.asarray(out_on, dtype=np.int64), np.asarray(out_off, dtype=np.int64)


# --------------------------------------------------------------------- detectors on the grid
def _grid_idt(grid: GazeGrid, cfg: IDTConfig) -> tuple[np.ndarray, np.ndarray]:
    from pymovements.events import idt

    min_len = max(2, int(round(cfg.min_duration * grid.hz)) + 1)
    if len(grid.times) < min_len:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing windows
        ev = idt(grid.pos, minimum_duration=min_len, dispersion_threshold=cfg.dispersion_deg)
    on = ev.frame["onset"].to_numpy().astype(np.int64)
    off = ev.frame["offset"].to_numpy().astype(np.int64)
    max_len = None if cfg.max_duration is None else int(np.floor(cfg.max_duration * grid.hz)) + 1
    return _split_long(on, off, max_len, min_len)


def _grid_ivt(grid: GazeGrid, cfg: IVTConfig) -> tuple[np.ndarray, np.ndarray]:
    from pymovements.events import ivt
    from pymovements.transforms.numpy import pos2vel

    if len(grid.times) < 6:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    vel = pos2vel(grid.pos, sampling_rate=grid.hz, method=cfg.velocity_method)
    min_steps = max(1, int(np.ceil(cfg.min_duration * grid.hz - 1e-9)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ev = ivt(vel, minimum_duration=min_steps, velocity_threshold=cfg.velocity_threshold)
    on = ev.frame["onset"].to_numpy().astype(np.int64)
    off = ev.frame["offset"].to_numpy().astype(np.int64)
    max_len = None if cfg.max_duration is None else int(np.floor(cfg.max_duration * grid.hz)) + 1
    return _split_long(on, off, max_len, min_steps + 1)


def _grid_i2mc(grid: GazeGrid, cfg: I2MCConfig) -> tuple[np.ndarray, np.ndarray]:
    import I2MC

    hz = grid.hz
    bad = [d for d in cfg.downsamples if (hz / d) != int(hz / d)]
    if bad:
        raise GazevosError(f"I2MC downsampling factors {bad} do not divide the grid rate "
                           f"{hz:g} Hz")
    if len(grid.times) < int(round(cfg.window * hz)) + 2 or np.isfinite(grid.pos).sum() < 4:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # The equivalent screen: positions in degrees shifted to be positive, one "pixel" per
    # degree; scrSz/disttoscreen chosen so that I2MC's own pixels-per-degree is exactly 1.
    pos = grid.pos
    lo = np.nanmin(pos, axis=0) - 1.0
    xy = pos - lo
    xres = float(np.ceil(np.nanmax(xy[:, 0]) + 1.0))
    yres = float(np.ceil(np.nanmax(xy[:, 1]) + 1.0))
    dist = 1.0 / (2.0 * np.tan(np.radians(0.5)))
    data = pd.DataFrame({"time": (grid.times - grid.times[0]) * 1000.0,
                         "average_X": xy[:, 0], "average_Y": xy[:, 1]})
    opt = {
        "xres": xres, "yres": yres, "freq": hz, "missingx": -1.0, "missingy": -1.0,
        "scrSz": [xres, yres], "disttoscreen": dist,
        "windowtimeInterp": cfg.interp_window, "edgeSampInterp": cfg.interp_edge_samples,
        "windowtime": cfg.window, "steptime": cfg.step, "downsamples": list(cfg.downsamples),
        "downsampFilter": cfg.downsample_filter, "chebyOrder": cfg.cheby_order,
        "maxerrors": cfg.max_errors, "cutoffstd": cfg.cutoff_std,
        "onoffsetThresh": cfg.onoffset_thresh, "maxMergeDist": cfg.max_merge_dist_deg,
        "maxMergeTime": cfg.max_merge_time * 1000.0, "minFixDur": cfg.min_duration * 1000.0,
    }
    # I2MC's k-means seeds from numpy's global generator: seed it, then restore its state
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(cfg.seed)  # noqa: NPY002
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fix, _, _ = I2MC.I2MC(data, opt, logging=False)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    if fix is False:
        raise GazevosError("I2MC clustering failed (too many clustering errors); try "
                           "another fixation method")
    return (np.asarray(fix["start"], dtype=np.int64), np.asarray(fix["end"], dtype=np.int64))


# --------------------------------------------------------------------- building the table
def _empty_table(with_frames: bool) -> pd.DataFrame:
    cols = list(FIXATION_TABLE_COLUMNS) + (["start_frame", "end_frame"] if with_frames else [])
    df = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    for c in ("fixation_id", "n_samples", "start_frame", "end_frame"):
        if c in df:
            df[c] = df[c].astype(np.int64)
    return df


def _table_from_windows(gaze: pd.DataFrame, ok: np.ndarray, t_lo: np.ndarray,
                        t_hi: np.ndarray, xy: np.ndarray | None = None) -> pd.DataFrame:
    """Fixation rows from time windows ``[t_lo, t_hi]`` over the valid samples.

    ``xy`` ``(F, 2)`` overrides the centroid (device fixations keep their own positions).
    """
    with_frames = "frame" in gaze.columns
    times = gaze["time"].to_numpy(float)
    idx_ok = np.flatnonzero(ok)
    t_ok = times[idx_ok]
    x = gaze["x"].to_numpy(float)
    y = gaze["y"].to_numpy(float)
    frames = gaze["frame"].to_numpy(np.int64) if with_frames else None
    rows = []
    for k, (lo, hi) in enumerate(zip(t_lo, t_hi, strict=True)):
        a = np.searchsorted(t_ok, lo, side="left")
        b = np.searchsorted(t_ok, hi, side="right")
        members = idx_ok[a:b]
        if len(members) == 0 and xy is None:
            continue
        row = {"start": float(times[members[0]]) if len(members) and xy is None else float(lo),
               "end": float(times[members[-1]]) if len(members) and xy is None else float(hi)}
        row["duration"] = row["end"] - row["start"]
        if xy is None:
            row["x"] = float(x[members].mean())
            row["y"] = float(y[members].mean())
        else:
            row["x"], row["y"] = float(xy[k, 0]), float(xy[k, 1])
        row["n_samples"] = int(len(members))
        if with_frames:
            fr = frames[members] if len(members) else np.zeros(0, np.int64)
            fr = fr[fr >= 0]
            row["start_frame"] = int(fr[0]) if len(fr) else -1
            row["end_frame"] = int(fr[-1]) if len(fr) else -1
        rows.append(row)
    if not rows:
        return _empty_table(with_frames)
    df = pd.DataFrame(rows)
    df.insert(0, "fixation_id", np.arange(1, len(df) + 1, dtype=np.int64))
    return df[_empty_table(with_frames).columns.tolist()].reset_index(drop=True)


def device_fixations(gaze: pd.DataFrame, fixations: pd.DataFrame | None,
                     min_confidence: float = 0.6) -> pd.DataFrame:
    """The device's own fixations (``Recording.fixations``) in the fixation-table layout.

    ``start``/``end``/``x``/``y`` are the device's; ``duration = end - start``;
    ``n_samples`` counts the valid gaze samples within ``[start, end]``; the frame columns come
    from those samples.
    """
    if fixations is None:
        raise GazevosError("this recording has no fixations of its own (method 'device'); "
                           "use i2mc, idt or ivt")
    missing = [c for c in ("start", "end", "x", "y") if c not in fixations.columns]
    if missing:
        raise GazevosError(f"device fixation table lacks columns {missing}")
    fx = fixations.sort_values("start", kind="stable").reset_index(drop=True)
    _check_sorted(gaze["time"].to_numpy(float))
    ok = valid_samples(gaze, min_confidence)
    table = _table_from_windows(gaze, ok, fx["start"].to_numpy(float), fx["end"].to_numpy(float),
                                fx[["x", "y"]].to_numpy(float))
    return table


def detect_fixations(gaze: pd.DataFrame, method: str | None = None,
                     geometry: CameraGeometry | None = None,
                     config: FixationConfig | None = None,
                     device: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fixations of a gaze table.

    Args:
        gaze: samples with columns ``time`` (s, ascending), ``x``, ``y`` (px), and optionally
            ``confidence``, ``flag`` and ``frame`` (see :func:`valid_samples`).
        method: ``i2mc``, ``idt``, ``ivt`` or ``device``; None: ``config.method``.
        geometry: the scene camera (pixels -> degrees); required except for ``device``.
        config: detection settings (defaults when None).
        device: the device's own fixations (``Recording.fixations``), for ``device``.

    Returns:
        One row per fixation, columns ``fixation_id`` (1, 2, ...), ``start``, ``end`` (s),
        ``duration`` (s), ``x``, ``y`` (px, mean of its valid samples), ``n_samples`` (valid
        samples in it), and ``start_frame``/``end_frame`` (frames of its first/last valid
        sample, -1 if unknown) when ``gaze`` has a ``frame`` column.
    """
    cfg = config or FixationConfig()
    method = (method or cfg.method).lower()
    if method not in METHODS:
        raise GazevosError(f"unknown fixation method '{method}' (known: {', '.join(METHODS)})")
    if method == "device":
        return device_fixations(gaze, device, cfg.min_confidence)
    if geometry is None:
        raise GazevosError("fixation detection needs the camera geometry (intrinsics or a "
                           "field of view)")
    times = gaze["time"].to_numpy(float)
    _check_sorted(times)
    ok = valid_samples(gaze, cfg.min_confidence)
    with_frames = "frame" in gaze.columns
    if ok.sum() < 3:
        return _empty_table(with_frames)
    px = gaze.loc[ok, ["x", "y"]].to_numpy(float)
    deg = geometry.pixels_to_screen_degrees(px)
    good = np.isfinite(deg).all(axis=1)
    if not good.all():  # points the lens model cannot undistort count as invalid
        ok_idx = np.flatnonzero(ok)
        ok[ok_idx[~good]] = False
        deg = deg[good]
    if ok.sum() < 3:
        return _empty_table(with_frames)
    hz = cfg.grid_hz if cfg.grid_hz > 0 else choose_grid_hz(times[ok])
    grid = resample_gaze(times[ok], deg, hz, cfg.max_gap)
    if method == "i2mc":
        on, off = _grid_i2mc(grid, cfg.i2mc)
    elif method == "idt":
        on, off = _grid_idt(grid, cfg.idt)
    else:
        on, off = _grid_ivt(grid, cfg.ivt)
    half = 0.5 / hz
    return _table_from_windows(gaze, ok, grid.times[on] - half, grid.times[off] + half)


def sample_fixation_ids(gaze: pd.DataFrame, fixations: pd.DataFrame) -> np.ndarray:
    """``(N,)`` int64: the ``fixation_id`` each gaze sample falls in (by time), -1 for none.

    Every sample whose time lies in ``[start, end]`` gets the id, valid or not.
    """
    times = gaze["time"].to_numpy(float)
    out = np.full(len(times), -1, dtype=np.int64)
    for fid, a, b in fixations[["fixation_id", "start", "end"]].itertuples(index=False):
        lo = np.searchsorted(times, a, side="left")
        hi = np.searchsorted(times, b, side="right")
        out[lo:hi] = fid
    return out
