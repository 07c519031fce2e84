"""The ``classic`` tracker: optical-flow prior fused with a per-video pixel classifier.

Per frame and object, on a downscaled work grid:

1. the previous probability map is warped into the current frame with DIS optical flow
   (the *prior*);
2. a gradient-boosted pixel classifier, trained on the given mask and periodically on
   confident pixels of recent frames, scores the pixels within a band around the warped
   mask;
3. prior and classifier are fused in log-odds;
4. the fused mask is cleaned: connected components that do not overlap the prior are
   dropped and small holes filled;
5. if the object's area collapses (occlusion, left the view) it is marked lost and its
   probability is zero; while lost, each frame is searched with the classifier for a
   region that matches the object near its last position (or, more strictly, anywhere):
   by default, for an object whose area collapsed, a classifier of the given mask alone
   (the tracking classifier may have learnt a drift), which the tracking classifier
   restarts from when the object is found (:mod:`gazevos.track.classic.reacquire`).

No model or training data is needed; memory does not grow with the video length.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gazevos.config import load_config
from gazevos.errors import GazevosError
from gazevos.track.base import GridPrediction, Prediction, Tracker, shrink
from gazevos.track.classic.ahead import Lookahead, make_dis
from gazevos.track.classic.classifier import AppearanceModel, draw, preload_library, sample_indices
from gazevos.track.classic.config import ClassicConfig
from gazevos.track.classic.features import (
    FeatureExtractor,
    colour_histogram,
    feature_rows,
    learned_features,
    mask_geometry,
    pixel_features,
    position_features,
)
from gazevos.track.classic.flowcheck import (
    inconsistent,
    photometric_inconsistent,
    warp_error,
    warped_difference,
)
from gazevos.track.classic.masks import clean_mask, fuse, near_window
from gazevos.track.classic.reacquire import anchor_predict, pick_region
from gazevos.track.dis import DIS_PRESETS


@dataclass
class _ObjectState:
    """What the tracker remembers about one object (constant size)."""

    model: AppearanceModel
    prob: np.ndarray                      # (h, w) last final probability, work grid
    hist: np.ndarray                      # LAB colour histogram of the given mask
    centroid: tuple[float, float]
    size: float
    areas: deque[int] = field(default_factory=deque)
    lost: bool = False
    tracked: int = 0
    prior: np.ndarray | None = None       # (h, w) this frame's warped prior
    view_changed: bool = False            # lost at a view change, not yet found again
    anchor_clf: Any = None                # reacquire_model anchor: its classifier (False: none)
    agreement: float = 0.0                # IoU(flow prior, final mask) when last classified


class ClassicTracker(Tracker):
    """Training-free tracker: DIS optical-flow prior + per-video gradient-boosted classifier.

    Args:
        config: the settings (defaults: :class:`ClassicConfig`).
        extractor: optional learned per-pixel encoder; its channels are appended to the
            classifier's colour / texture / position features.
    """

    name = "classic"
    config_cls = ClassicConfig
    transient = ("_dis", "_check_dis", "_ahead", "_pre_flow")

    def _rebuild_transient(self) -> None:
        # DIS keeps no state between calls: fresh objects with the settings are equal
        self._dis = self._make_dis()
        self._check_dis = self._make_dis(self.config.flow_check_preset)
        self._ahead: Lookahead | None = None    # frames prepared by another thread
        self._pre_flow: tuple[np.ndarray | None, np.ndarray | None] | None = None

    def __init__(self, config: ClassicConfig | None = None,
                 extractor: FeatureExtractor | None = None) -> None:
        super().__init__()
        self.config = config or ClassicConfig()
        c = self.config
        if c.dis_preset not in DIS_PRESETS:
            raise GazevosError(f"dis_preset must be one of {', '.join(DIS_PRESETS)}, "
                               f"got '{c.dis_preset}'")
        if c.flow_check_preset != "same" and c.flow_check_preset not in DIS_PRESETS:
            raise GazevosError(f"flow_check_preset must be 'same' or one of "
                               f"{', '.join(DIS_PRESETS)}, got '{c.flow_check_preset}'")
        if not 0.05 <= c.work_scale <= 1.0:
            raise GazevosError(f"work_scale must be in [0.05, 1], got {c.work_scale}")
        self.extractor = extractor
        self._rebuild_transient()
        self._rng = np.random.default_rng(c.seed)
        self._objects: dict[int, _ObjectState] = {}
        self._prev_gray: np.ndarray | None = None
        # (frame index, work-grid RGB, grey, features or None) of the current frame
        self._cache: tuple[int, np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self._light = False     # this frame is carried by the flow alone (classify_every)
        self._skipped = 0       # frames carried in a row by skip_agreement
        self.carried = 0        # frames carried by the flow alone since the last reset
        self._warp_ref = (0.0, 0.0)  # warp_error of the last classified frame
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._coarse_map: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_options(cls, checkpoint: str | Path | None = None,
                     config: str | Path | None = None,
                     extractor: FeatureExtractor | None = None, **overrides: Any) -> Tracker:
        """Build from CLI-style options; ``extractor`` plugs in learned features.

        With ``learned_features: mast`` (and no ``extractor``) the MAST encoder is loaded
        from ``checkpoint`` (default: the shipped MAST model); otherwise ``checkpoint`` is
        ignored: the tracker itself has no weights.
        """
        cfg = load_config(ClassicConfig, config, overrides)
        if extractor is None and cfg.learned_features != "none":
            if cfg.learned_features != "mast":
                raise GazevosError(f"learned_features must be 'none' or 'mast', got "
                                   f"'{cfg.learned_features}'")
            from gazevos.track.classic.learned import MastFeatures

            extractor = MastFeatures(checkpoint, scale=cfg.learned_scale, dims=cfg.learned_dims)
        return cls(cfg, extractor=extractor)

    def reset(self) -> None:
        super().reset()
        preload_library(self.config.boost_library)
        self._rebuild_transient()
        self._rng = np.random.default_rng(self.config.seed)
        self._objects = {}
        self._prev_gray = None
        self._cache = None
        self._grid = None
        self._coarse_map = None
        self._light = False
        self._skipped = 0
        self.carried = 0
        self._warp_ref = (0.0, 0.0)
        reset_extractor = getattr(self.extractor, "reset", None)
        if callable(reset_extractor):
            reset_extractor()

    def _make_dis(self, preset: str = "same") -> cv2.DISOpticalFlow:
        """A DIS object with the configured settings (``preset``: another preset, as is)."""
        return make_dis(self.config, preset)

    def prepare(self, image: np.ndarray) -> None:
        """Make the work-grid images and the optical flow of ``image`` before its step,
        in another thread, frames in order (:mod:`gazevos.track.classic.ahead`)."""
        if self._ahead is None:
            self._ahead = Lookahead(self._make_dis(), self._work_size)
        self._ahead.prepare(image)

    # ------------------------------------------------------------------ per-frame inputs
    def _work_size(self, frame: np.ndarray) -> tuple[int, int]:
        h, w = frame.shape[:2]
        c = self.config
        s = min(1.0, max(c.work_scale, c.min_work_height / h))
        if c.max_work_pixels > 0:
            s = min(s, float(np.sqrt(c.max_work_pixels / (h * w))))
        return max(8, round(h * s)), max(8, round(w * s))

    def _prepare(self, frame: np.ndarray, features: bool = True
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Grey image ``(h, w)`` uint8 and features ``(h, w, F)`` of the current frame.

        Without ``features`` only the grey image is made (features None unless already
        made for this frame); both are cached for the frame.
        """
        cache = self._cache
        if cache is None or cache[0] != self.frame_index:
            h, w = self._work_size(frame)
            pre = self._ahead.take(frame) if self._ahead is not None else None
            self._pre_flow = (pre.prev, pre.flow) if pre is not None else None
            if pre is not None and pre.gray.shape == (h, w):
                cache = (self.frame_index, pre.small, pre.gray, None)
            else:
                small = frame if (h, w) == frame.shape[:2] else shrink(frame, (w, h))
                cache = (self.frame_index, small, cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), None)
        index, small, gray, feats = cache
        if features and feats is None:
            feats = pixel_features(small, self.config.mean_radii, self.config.texture_radius)
            if self.extractor is not None:
                feats = np.concatenate(
                    [feats, learned_features(self.extractor, frame, gray.shape)], axis=0)
        self._cache = (index, small, gray, feats)
        return gray, feats

    def _samples(self, feats: np.ndarray, idx: np.ndarray,
                 geometry: tuple[tuple[float, float], float, int] | None,
                 jitter: float = 0.0) -> np.ndarray:
        """``(n, F')`` classifier inputs of flat pixel indices ``idx``.

        ``jitter`` (object sizes) adds Gaussian noise to the position features of training
        samples, so that position stays a coarse cue and the classifier cannot carve the
        object's exact outline from coordinates alone.
        """
        x = feature_rows(feats, idx)    # (F, h, w) planes
        if self.config.use_position:
            ys, xs = np.divmod(idx, feats.shape[2])
            if geometry is None:
                pos = np.full((idx.size, 2), np.nan, dtype=np.float32)
            else:
                pos = position_features(ys, xs, geometry[0], geometry[1])
                if jitter > 0:
                    pos += self._rng.normal(0.0, jitter, pos.shape).astype(np.float32)
            x = np.concatenate([x, pos], axis=1)
        return x

    def _band(self, size: float, motion: float = 0.0) -> float:
        """Band width (pixels) around an object of ``size``; wider when it moves fast."""
        c = self.config
        return float(np.clip(max(c.band_fraction * size, c.band_motion_gain * motion),
                             c.band_min, c.band_max))

    # ------------------------------------------------------------------ tracking
    def _propagate(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        t = time.perf_counter()
        c = self.config
        # classify_every > 1: the frames between classified ones are carried by the flow;
        # skip_agreement: so is a frame after one where the flow alone was right, unless
        # the flow explains the objects' pixels less well than then (skip_error_ratio)
        every = c.classify_every > 1 and self.frame_index % c.classify_every != 0
        skip = not every and self._skip_next()
        gray, feats = self._prepare(frame, features=False)
        h, w = gray.shape
        pre = self._pre_flow    # made ahead against this very previous grey image, or not
        flow = (pre[1] if pre is not None and pre[1] is not None and pre[0] is self._prev_gray
                else self._dis.calc(gray, self._prev_gray, None))
        if self._grid is None or self._grid[0].shape != (h, w):
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (gx, gy)
        mx = self._grid[0] + flow[..., 0]
        my = self._grid[1] + flow[..., 1]
        priors = {i: cv2.remap(self._objects[i].prob, mx, my, interpolation=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                  for i in self.object_ids}
        diff = None     # the warped grey-level difference, made once for both its uses
        if c.skip_agreement > 0 and c.skip_error_ratio > 0 and not every:
            diff = warped_difference(gray, self._prev_gray, mx, my)
            err = warp_error(diff, priors.values())
            if skip:    # unexplained by the flow, more than on the last classified frame
                skip = all(e <= c.skip_error_ratio * max(1.0, r)
                           for e, r in zip(err, self._warp_ref, strict=True))
            if not skip:
                self._warp_ref = err
        self._light = every or skip
        self._skipped = self._skipped + 1 if skip else 0
        self.carried += self._light
        t = self._lap("flow", t)
        if not self._light:
            gray, feats = self._prepare(frame)
            t = self._lap("features", t)
        unreliable = None
        if c.flow_check and not self._light:
            unreliable = self._inconsistent(flow, mx, my, gray, diff)
        # most of the frame fails the check: the view changed, search for every object
        view_changed = (unreliable is not None and c.view_change_fraction < 1.0
                        and float(unreliable.mean()) > c.view_change_fraction)
        t = self._lap("flow", t)
        out: dict[int, np.ndarray] = {}
        for i in self.object_ids:
            st = self._objects[i]
            if view_changed:
                st.lost = st.view_changed = True
            prior = priors[i]
            if c.prior_blur > 0 and feats is not None:
                prior = cv2.GaussianBlur(prior, (0, 0), c.prior_blur)
            if unreliable is not None:
                np.minimum(prior, c.unreliable_prior, out=prior, where=unreliable)
            if feats is None:
                t = self._lap("prior", t)
                out[i] = self._carry_object(st, prior)
                t = self._lap("carry", t)
                continue
            motion = 0.0
            if c.band_motion_gain > 0:
                inside = prior > 0.5
                if inside.any():     # how far the object's pixels moved (90th percentile)
                    moved = flow[inside]
                    motion = float(np.percentile(np.hypot(moved[:, 0], moved[:, 1]), 90))
            t = self._lap("prior", t)
            out[i] = self._track_object(st, prior, feats, motion)
            t = self._lap("object", t)
        return out    # on the work grid: the base class aggregates there and upsamples

    def _skip_next(self) -> bool:
        """Whether ``skip_agreement`` carries this frame by the flow alone.

        Yes when fewer than ``skip_max`` frames were carried in a row and, on the last
        classified frame, every object kept at least ``skip_agreement`` of its flow prior
        (IoU of the prior's and the final mask's pixels).  A lost object vetoes it: it is
        searched for on every frame, as without carrying.
        """
        c = self.config
        if c.skip_agreement <= 0 or self._skipped >= c.skip_max or not self._objects:
            return False
        return all(not st.lost and st.agreement >= c.skip_agreement
                   for st in self._objects.values())

    def _carry_object(self, st: _ObjectState, prior: np.ndarray) -> np.ndarray:
        """``(h, w)`` probability of one object on a frame carried by the flow alone.

        The warped prior, cleaned as a fused mask is (stray blobs dropped, small holes
        filled); a lost object stays lost until the next classified frame searches for it.
        """
        c = self.config
        if st.lost:
            return np.zeros_like(prior)
        final = clean_mask(prior, prior, c.keep_min_prior, c.hole_fraction,
                           c.min_component_fraction, c.component_max_gap * st.size)
        area = int((final > 0.5).sum())
        ref = float(np.median(st.areas)) if st.areas else float(area)
        if area == 0 or area < c.lost_area_fraction * ref:
            st.lost = True
            return np.zeros_like(prior)
        return final

    def _inconsistent(self, back: np.ndarray, mx: np.ndarray, my: np.ndarray,
                      gray: np.ndarray, diff: np.ndarray | None = None) -> np.ndarray:
        """``(h, w)`` bool: pixels failing the flow check: the grey-level one
        (:func:`photometric_inconsistent`, ``flow_check_photometric`` > 0) unless more than
        ``flow_check_confirm`` of the frame fails it, else the forward-backward one
        (:func:`inconsistent`); ``diff``: :func:`warped_difference`, when already made."""
        c = self.config
        if c.flow_check_photometric > 0:
            if diff is None:
                diff = warped_difference(gray, self._prev_gray, mx, my)
            bad = photometric_inconsistent(diff, c.flow_check_photometric)
            if c.flow_check_confirm >= 1.0 or float(bad.mean()) <= c.flow_check_confirm:
                return bad
        fwd = self._check_dis.calc(self._prev_gray, gray, None)
        return inconsistent(fwd, back, mx, my, c.flow_check_relative, c.flow_check_absolute)

    def _track_object(self, st: _ObjectState, prior: np.ndarray, feats: np.ndarray,
                      motion: float = 0.0) -> np.ndarray:
        """Final ``(h, w)`` probability of one object on the work grid; updates ``st``.

        ``motion``: how far (pixels) the object moved since the previous frame.
        """
        c = self.config
        h, w = prior.shape
        pm = prior > 0.5
        geom = mask_geometry(pm) if not st.lost else None
        searched = geom is None       # the prior comes from the search, not the flow
        if searched:
            prior = self._reacquire(st, feats)
            if prior is None:
                st.lost = True
                return np.zeros((h, w), dtype=np.float32)
            pm = prior > 0.5
            geom = mask_geometry(pm)
            assert geom is not None
        st.prior = prior
        band = self._band(geom[1], motion)
        fused = prior.copy()
        t = time.perf_counter()
        idx, pc = self._classify_band(st, feats, pm, geom, band)
        self._lap("classifier", t)
        if c.classifier_blur > 0:
            # smooth the classifier's answer over its neighbours (in the band, bounding box)
            ys, xs = np.divmod(idx, w)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            box = np.full((y1 - y0, x1 - x0), 0.5, dtype=np.float32)
            box[ys - y0, xs - x0] = pc
            box = cv2.GaussianBlur(box, (0, 0), c.classifier_blur)
            pc = box[ys - y0, xs - x0]
        fused.ravel()[idx] = fuse(prior.ravel()[idx], pc, c)
        final = clean_mask(fused, prior, c.keep_min_prior, c.hole_fraction,
                           c.min_component_fraction, c.component_max_gap * st.size)
        fm = final > 0.5
        area = int(fm.sum())
        ref = float(np.median(st.areas)) if st.areas else float(area)
        if area == 0 or area < c.lost_area_fraction * ref:
            st.lost = True
            st.agreement = 0.0
            return np.zeros((h, w), dtype=np.float32)
        if c.skip_agreement > 0:      # a found-again object has no flow to agree with
            both = np.count_nonzero(pm & fm)
            st.agreement = 0.0 if searched else both / max(1, np.count_nonzero(pm) + area - both)
        st.lost = st.view_changed = False
        st.areas.append(area)
        g = mask_geometry(fm)
        if g is not None:
            st.centroid, st.size = g[0], g[1]
        return final

    def _classify_band(self, st: _ObjectState, feats: np.ndarray, pm: np.ndarray,
                       geom: tuple[tuple[float, float], float, int], band: float
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Classifier probabilities within ``band`` pixels of the warped mask ``pm``.

        Pixels near the mask edge (either side) are all classified; the deep interior
        only on every ``interior_stride``-th row and column, and the rest of it takes
        the nearest such value (it still sees occluders, at a fraction of the cost).

        Returns:
            ``(idx (n,), p (n,))``: flat pixel indices and their object probability.
        """
        if self.config.band_stride > 1:
            return self._classify_coarse(st, feats, pm, geom, band)
        h, w = pm.shape
        outside = cv2.distanceTransform((~pm).astype(np.uint8), cv2.DIST_L2, 3)
        s = self.config.interior_stride
        if s <= 1:
            idx = np.flatnonzero(outside <= band)
            return idx, st.model.predict(self._samples(feats, idx, geom))
        inside = cv2.distanceTransform(pm.astype(np.uint8), cv2.DIST_L2, 3)
        deep = inside > band
        idx = np.flatnonzero((outside <= band) & ~deep)
        grid = np.zeros((h, w), dtype=bool)
        grid[::s, ::s] = True
        gidx = np.flatnonzero(deep & grid)
        p = st.model.predict(self._samples(feats, np.concatenate([idx, gidx]), geom))
        coarse = np.ones(grid[::s, ::s].shape, dtype=np.float32)
        gy, gx = np.divmod(gidx, w)
        coarse[gy // s, gx // s] = p[idx.size:]
        fine = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_NEAREST)
        didx = np.flatnonzero(deep)
        return np.concatenate([idx, didx]), np.concatenate([p[:idx.size], fine.ravel()[didx]])

    def _classify_coarse(self, st: _ObjectState, feats: np.ndarray, pm: np.ndarray,
                         geom: tuple[tuple[float, float], float, int], band: float
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Classifier probabilities within ``band`` pixels of the mask, from a coarse grid.

        The classifier runs on every ``band_stride``-th row and column within the band
        (and one grid step beyond it); the band's pixels take the bilinear interpolation
        of those answers (grid points outside the region count as background).  Only the
        rectangle around the mask that the band can reach is looked at (:func:`near_window`).

        Returns:
            ``(idx (n,), p (n,))``: flat pixel indices and their object probability.
        """
        h, w = pm.shape
        s = self.config.band_stride
        rows, cols = near_window(pm, band + s, s)
        outside = cv2.distanceTransform((~pm[rows, cols]).astype(np.uint8), cv2.DIST_L2, 3)
        gy, gx = np.nonzero(outside[::s, ::s] <= band + s)
        gy += rows.start // s
        gx += cols.start // s
        coarse = np.zeros(((h + s - 1) // s, (w + s - 1) // s), dtype=np.float32)
        coarse[gy, gx] = st.model.predict(self._samples(feats, gy * s * w + gx * s, geom))
        if self._coarse_map is None or self._coarse_map[0].shape != (h, w):
            self._coarse_map = tuple(np.meshgrid(np.arange(w, dtype=np.float32) / s,
                                                 np.arange(h, dtype=np.float32) / s))
        fine = cv2.remap(coarse, self._coarse_map[0][rows, cols], self._coarse_map[1][rows, cols],
                         interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        ry, rx = np.nonzero(outside <= band)
        return (ry + rows.start) * w + rx + cols.start, fine[ry, rx]

    def _reacquire(self, st: _ObjectState, feats: np.ndarray) -> np.ndarray | None:
        """Search a lost object; a prior ``(h, w)`` on the best matching region, or None
        (:mod:`gazevos.track.classic.reacquire`)."""
        c = self.config
        if not st.model.fitted:     # the given mask was too small to learn from
            return None
        h, w = feats.shape[1:]
        s = max(1, c.reacquire_stride)
        ys, xs = np.mgrid[0:h:s, 0:w:s]
        gh, gw = ys.shape
        idx = (ys * w + xs).ravel()
        view_changed = getattr(st, "view_changed", False)
        if c.reacquire_model == "anchor" or (c.reacquire_model == "anchor-after-collapse"
                                             and not view_changed):
            pc = anchor_predict(st, self.config, feature_rows(feats, idx))
            if pc is None:
                return None
        else:
            pc = st.model.predict(self._samples(feats, idx, (st.centroid, st.size, 0)))
        pc = pc.reshape(gh, gw)
        if s > 1:
            pc = cv2.resize(pc, (w, h), interpolation=cv2.INTER_LINEAR)
        ref = float(np.median(st.areas)) if st.areas else st.size ** 2
        # after a view change the last position says nothing: the strict test everywhere
        region = pick_region(pc, feats[:3], st.hist, st.centroid, st.size, ref, c,
                             anywhere=view_changed)
        if region is None:
            return None
        if c.reacquire_restart:
            st.model.restart()
        return np.where(region, c.reacquire_prior, 0.0).astype(np.float32)

    # ------------------------------------------------------------------ memory
    def _train_samples(self, feats: np.ndarray, prob: np.ndarray, fg: np.ndarray,
                       bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classifier samples of one frame: ``fg``/``bg`` boolean masks of labelled pixels.

        Most background samples come from a band around the object (where the classifier
        is used), ``far_background_fraction`` of them from anywhere else.
        """
        c = self.config
        n = c.samples_per_class
        geom = mask_geometry(prob > 0.5)
        if geom is None:
            idx, y = sample_indices(self._rng, fg, bg, n, c.balance_classes)
            return self._samples(feats, idx, geom, c.position_jitter), y
        dist = cv2.distanceTransform((prob <= 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        near = dist <= c.train_band_factor * self._band(geom[1])
        i1 = draw(self._rng, fg, n, c.balance_classes)
        i0 = draw(self._rng, bg & near, round((1.0 - c.far_background_fraction) * n))
        i0 = np.concatenate([i0, draw(self._rng, bg & ~near, n - i0.size)])
        if c.balance_classes and 0 < i0.size < n:
            i0 = i0[self._rng.integers(0, i0.size, n)]
        idx = np.concatenate([i1, i0])
        y = np.concatenate([np.ones(i1.size, np.uint8), np.zeros(i0.size, np.uint8)])
        return self._samples(feats, idx, geom, c.position_jitter), y

    def _memorize(self, frame: np.ndarray, pred: Prediction, given: set[int]) -> None:
        c = self.config
        carried = self._light         # this frame's tracked masks came from the flow alone
        self._light = False
        gray, feats = self._prepare(frame, features=bool(given) or not carried)
        self._prev_gray = gray
        h, w = gray.shape
        for i in pred.object_ids:
            # the frame-size probabilities shrunk to the grid even when they were upsampled
            # from it: the round trip smooths the prior a little, and remembering the
            # work-grid values instead cost 0.013 DAVIS J&F (parkour 0.79 -> 0.65); a
            # GridPrediction makes it on the grid
            if c.binarize_prior:
                p = (pred.labels == i).astype(np.float32)
            else:
                p = pred.grid_prob(i, (h, w)) if isinstance(pred, GridPrediction) else None
            if p is None or p.shape != (h, w):
                p = shrink(pred.prob(i) if p is None else p, (w, h))
            p = np.ascontiguousarray(p, dtype=np.float32)
            if i in given:
                assert feats is not None
                fm = p > 0.5
                geom = mask_geometry(fm)
                model = AppearanceModel(c.boost_rounds, c.boost_leaves, c.boost_learning_rate,
                                        c.boost_min_leaf, c.recent_frames, c.boost_threads,
                                        c.seed, c.anchor_weight, c.boost_library, c.boost_l2,
                                        c.boost_bins)
                x, y = self._train_samples(feats, p, fm, ~fm)
                model.set_anchor(x, y)
                model.fit()
                hist = colour_histogram(feats[:3, fm].T, c.histogram_bins)
                st = _ObjectState(model=model, prob=p, hist=hist, centroid=(h / 2, w / 2),
                                  size=float(np.sqrt(h * w)),
                                  areas=deque(maxlen=c.reference_frames))
                if geom is not None:
                    st.centroid, st.size = geom[0], geom[1]
                    st.areas.append(geom[2])
                else:
                    st.lost = True
                self._objects[i] = st
                continue
            st = self._objects[i]
            st.prob = p
            if st.lost or carried:
                continue
            st.tracked += 1
            if st.tracked % c.sample_every == 0:
                fg = p > c.confident_object
                if c.recent_object_needs_prior and st.prior is not None:
                    fg &= st.prior > 0.5
                bg = p < c.confident_background
                if c.recent_background_margin > 0:
                    # not right next to the mask: parts the mask missed would be learnt
                    # as background
                    geom = mask_geometry(p > 0.5)
                    if geom is not None:
                        d = cv2.distanceTransform((p <= 0.5).astype(np.uint8), cv2.DIST_L2, 3)
                        bg &= d > c.recent_background_margin * self._band(geom[1])
                assert feats is not None
                x, y = self._train_samples(feats, p, fg, bg)
                if c.recent_anchor_check > 0:
                    # object samples the given mask's classifier rejects: drift, not object
                    pa = anchor_predict(st, self.config, x[:, :feats.shape[0]])
                    if pa is not None:
                        keep = (y == 0) | (pa >= c.recent_anchor_check)
                        x, y = x[keep], y[keep]
                st.model.add_recent(x, y)
            if st.tracked % c.retrain_every == 0:
                st.model.fit(background=True, defer=c.fit_defer)
            if not st.model.fitted:
                st.lost = True
