"""Training pairs for RANet: real template/target pairs and synthetic composites.

Sequences are loaded once, resized by ``scale`` (frames ``(T, h, w, 3)`` uint8, label maps
``(T, h, w)`` uint8, 255 = void).  A sample is one object of one sequence:

* real pair: template frame i, target frame j, previous frame j - g (1 <= g <= max_gap);
* synthetic pair (probability ``synthetic``): an object cut out by its mask is pasted on
  another frame (any sequence) with a random affine motion between template and target,
  the background moving independently; the previous mask is the object's mask under a
  motion between the two.

Augmentations (thesis 3.2.3): crop with random scale and rotation (+-``rotate`` degrees)
drawn independently for template and target (the previous mask follows the target's),
horizontal / vertical flips shared by the whole pair.  The previous mask is further
jittered (small affine, optionally eroded or dilated) so that the decoder learns to
correct it.  Optionally (``box_crop``) real pairs are framed like the tracker's bbox crop,
so that objects have the size at which the tracker shows them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gazevos.config import setting
from gazevos.errors import GazevosError
from gazevos.eval.davis import annotation_files
from gazevos.io.masks import read_mask
from gazevos.models.ranet.augment import jitter_mask as _jitter
from gazevos.models.ranet.augment import morph_mask as _morph


@dataclass
class Sequence_:
    """One loaded sequence: ``frames (T, h, w, 3)``, ``labels (T, h, w)``, its name."""

    name: str
    frames: np.ndarray
    labels: np.ndarray


def load_sequences(root: str | os.PathLike[str], names: Sequence[str], scale: float,
                   resolution: str = "480p") -> list[Sequence_]:
    """Load DAVIS sequences with every annotated frame, resized by ``scale``.

    Raises:
        GazevosError: a frame of an annotation is missing.
    """
    root = Path(root)
    out = []
    for name in names:
        frames, labels = [], []
        for ann in annotation_files(root, name, resolution):
            img_path = root / "JPEGImages" / resolution / name / f"{ann.stem}.jpg"
            img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
            if img is None:
                raise GazevosError("cannot read frame", img_path)
            lab = read_mask(ann)
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            if scale != 1.0:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                lab = cv2.resize(lab, (img.shape[1], img.shape[0]),
                                 interpolation=cv2.INTER_NEAREST)
            frames.append(img)
            labels.append(lab)
        out.append(Sequence_(name, np.stack(frames), np.stack(labels)))
    return out


@dataclass(frozen=True)
class PairConfig:
    """Sampling and augmentation of training pairs.

    Attributes:
        size: ``(H, W)`` network input (multiples of 32).
        scale_range: random zoom of the crops.
        rotate: maximum rotation in degrees (thesis: 30).
        flip: shared horizontal and vertical flips.
        max_gap: largest distance between the previous and the target frame.
        synthetic: probability of a synthetic composite pair.
        prev_jitter: relative size of the random shift/scale of the previous mask.
        prev_morph: largest erosion / dilation radius of the previous mask, as a fraction
            of the object's size (square root of its area); one of the two, with a random
            radius, is applied to every previous mask (0: none), so that the decoder
            learns to grow back a shrunken M(t-1) and to trim a swollen one.
        box_crop: probability that a real pair is cropped like the tracker's bbox crop:
            template around its mask, target around the previous frame's mask, each
            window ``box_scale`` times the object's box (at least ``min_box`` of the
            frame side), times a random zoom from ``scale_range``.
        box_scale, min_box: as the tracker's ``bbox_scale`` and ``min_box``.
    """

    size: tuple[int, ...] = setting((224, 384), ge=16, le=8192)
    scale_range: tuple[float, ...] = setting((0.8, 1.25), gt=0.0, le=100.0)
    rotate: float = setting(30.0, ge=0.0, le=180.0)
    flip: bool = True
    max_gap: int = setting(5, ge=1)
    synthetic: float = setting(0.3, ge=0.0, le=1.0)
    prev_jitter: float = setting(0.05, ge=0.0, le=1.0)
    prev_morph: float = setting(0.0, ge=0.0, le=1.0)
    box_crop: float = setting(0.0, ge=0.0, le=1.0)
    box_scale: float = setting(1.5, gt=0.0, le=100.0)
    min_box: float = setting(0.25, ge=0.0, le=1.0)


def _affine(rng: np.random.Generator, src_hw: tuple[int, int], dst_hw: tuple[int, int],
            scale_range: Sequence[float], rotate: float, centre: tuple[float, float] | None
            ) -> np.ndarray:
    """2x3 matrix mapping a random rotated/zoomed window of the source to the output.

    The window is centred at ``centre`` (x, y) (random when None) and, at zoom 1, covers
    the output size scaled to fit the source's height.
    """
    sh, sw = src_hw
    dh, dw = dst_hw
    base = min(sh / dh, sw / dw)
    zoom = float(rng.uniform(*scale_range))
    angle = float(rng.uniform(-rotate, rotate))
    if centre is None:
        centre = (float(rng.uniform(0.3, 0.7) * sw), float(rng.uniform(0.3, 0.7) * sh))
    s = zoom / base
    m = cv2.getRotationMatrix2D(centre, angle, s)
    m[0, 2] += dw / 2.0 - centre[0]
    m[1, 2] += dh / 2.0 - centre[1]
    return m


def _box_affine(rng: np.random.Generator, mask: np.ndarray, dst_hw: tuple[int, int],
                scale_range: Sequence[float], rotate: float, box_scale: float,
                min_frac: float) -> np.ndarray | None:
    """2x3 matrix mapping a window around ``mask``'s box (as the tracker's bbox crop:
    ``box_scale`` times the box, widened to the output aspect, at least ``min_frac`` of
    the source sides) to the output, with random zoom, rotation and a small shift.
    ``None`` for an empty mask."""
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    if ys.size == 0:
        return None
    sh, sw = mask.shape
    dh, dw = dst_hw
    bh = max((ys[-1] - ys[0] + 1) * box_scale, min_frac * sh)
    bw = max((xs[-1] - xs[0] + 1) * box_scale, min_frac * sw)
    bh = max(bh, bw * dh / dw)
    s = dh / bh * float(rng.uniform(*scale_range))
    cy = (ys[0] + ys[-1] + 1) / 2.0 + float(rng.uniform(-0.1, 0.1)) * bh
    cx = (xs[0] + xs[-1] + 1) / 2.0 + float(rng.uniform(-0.1, 0.1)) * bh * dw / dh
    m = cv2.getRotationMatrix2D((cx, cy), float(rng.uniform(-rotate, rotate)), s)
    m[0, 2] += dw / 2.0 - cx
    m[1, 2] += dh / 2.0 - cy
    return m


def _warp(img: np.ndarray, m: np.ndarray, hw: tuple[int, int], nearest: bool) -> np.ndarray:
    return cv2.warpAffine(img, m, (hw[1], hw[0]),
                          flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def _centre(mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float] | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    k = int(rng.integers(ys.size))
    cy, cx = ys.mean(), xs.mean()
    return (float(0.5 * cx + 0.5 * xs[k]), float(0.5 * cy + 0.5 * ys[k]))


@dataclass
class Pair:
    """One training sample, arrays at the network size ``(H, W)``.

    ``template_img``/``target_img`` ``(H, W, 3)`` uint8; ``template_mask``,
    ``target_mask``, ``prev_mask`` ``(H, W)`` float32 in {0, 1}; ``valid`` ``(H, W)``
    float32 (0 on void pixels of the target).
    """

    template_img: np.ndarray
    template_mask: np.ndarray
    target_img: np.ndarray
    target_mask: np.ndarray
    prev_mask: np.ndarray
    valid: np.ndarray


class PairSampler:
    """Draw augmented :class:`Pair` s from loaded sequences."""

    def __init__(self, sequences: list[Sequence_], cfg: PairConfig,
                 rng: np.random.Generator) -> None:
        self.seqs = [s for s in sequences if s.frames.shape[0] >= 2]
        if not self.seqs:
            raise GazevosError("no training sequence has two or more annotated frames")
        self.cfg = cfg
        self.rng = rng
        self.size = (int(cfg.size[0]), int(cfg.size[1]))

    def _object(self, seq: Sequence_) -> tuple[int, int]:
        """A (frame, object id) with the object present."""
        for _ in range(20):
            t = int(self.rng.integers(seq.labels.shape[0]))
            ids = [int(i) for i in np.unique(seq.labels[t]) if 0 < i < 255]
            if ids:
                return t, int(self.rng.choice(ids))
        return 0, 1

    def sample(self) -> Pair:
        """One pair (real or synthetic)."""
        if self.rng.random() < self.cfg.synthetic:
            pair = self._synthetic()
        else:
            pair = self._real()
        if self.cfg.flip:
            for axis in (0, 1):
                if self.rng.random() < 0.5:
                    for k, v in vars(pair).items():
                        setattr(pair, k, np.ascontiguousarray(np.flip(v, axis)))
        return pair

    def _real(self) -> Pair:
        cfg, rng, hw = self.cfg, self.rng, self.size
        seq = self.seqs[int(rng.integers(len(self.seqs)))]
        i, oid = self._object(seq)
        n = seq.frames.shape[0]
        j = int(rng.integers(n))
        g = int(rng.integers(1, cfg.max_gap + 1))
        p = max(0, j - g) if j > 0 else min(n - 1, 1)
        tm = (seq.labels[i] == oid).astype(np.float32)
        gm = (seq.labels[j] == oid).astype(np.float32)
        mt = mj = None
        if cfg.box_crop > 0 and rng.random() < cfg.box_crop:
            box = (hw, cfg.scale_range, cfg.rotate, cfg.box_scale, cfg.min_box)
            mt = _box_affine(rng, tm > 0, *box)
            mj = _box_affine(rng, seq.labels[p] == oid, *box)
            if mj is None:
                mj = _box_affine(rng, gm > 0, *box)
        if mt is None or mj is None:
            mt = _affine(rng, seq.frames.shape[1:3], hw, cfg.scale_range, cfg.rotate,
                         _centre(tm, rng))
            mj = _affine(rng, seq.frames.shape[1:3], hw, cfg.scale_range, cfg.rotate,
                         _centre(seq.labels[p] == oid, rng) or _centre(gm, rng))
        valid = (seq.labels[j] != 255).astype(np.float32)
        prev = _jitter((seq.labels[p] == oid).astype(np.float32), rng, cfg.prev_jitter)
        prev = _morph(prev, rng, cfg.prev_morph)
        return Pair(_warp(seq.frames[i], mt, hw, False), _warp(tm, mt, hw, True),
                    _warp(seq.frames[j], mj, hw, False), _warp(gm, mj, hw, True),
                    _warp(prev, mj, hw, True), _warp(valid, mj, hw, True))

    def _synthetic(self) -> Pair:
        cfg, rng, hw = self.cfg, self.rng, self.size
        src = self.seqs[int(rng.integers(len(self.seqs)))]
        t, oid = self._object(src)
        obj_img, obj_mask = src.frames[t], (src.labels[t] == oid).astype(np.float32)
        bg = self.seqs[int(rng.integers(len(self.seqs)))]
        b1 = int(rng.integers(bg.frames.shape[0]))
        b2 = int(np.clip(b1 + rng.integers(-cfg.max_gap, cfg.max_gap + 1), 0,
                         bg.frames.shape[0] - 1))
        c = _centre(obj_mask, rng)
        m1 = _affine(rng, obj_img.shape[:2], hw, cfg.scale_range, cfg.rotate, c)
        # the target moves the object a little relative to the template
        dm = cv2.getRotationMatrix2D((hw[1] / 2, hw[0] / 2), float(rng.uniform(-15, 15)),
                                     float(rng.uniform(0.85, 1.15)))
        dm[0, 2] += float(rng.uniform(-0.15, 0.15) * hw[1])
        dm[1, 2] += float(rng.uniform(-0.15, 0.15) * hw[0])
        m2 = (np.vstack([dm, [0, 0, 1]]) @ np.vstack([m1, [0, 0, 1]]))[:2]
        half = 0.5 * (np.vstack([dm, [0, 0, 1]]) + np.eye(3))
        mp = (half @ np.vstack([m1, [0, 0, 1]]))[:2]
        mb1 = _affine(rng, bg.frames.shape[1:3], hw, cfg.scale_range, cfg.rotate / 3, None)
        mb2 = mb1.copy()
        mb2[:, 2] += rng.uniform(-0.05, 0.05, size=2) * np.array([hw[1], hw[0]])

        def comp(mo: np.ndarray, mb: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
            back = _warp(bg.frames[frame], mb, hw, False)
            fore = _warp(obj_img, mo, hw, False)
            alpha = cv2.GaussianBlur(_warp(obj_mask, mo, hw, True), (3, 3), 0)[..., None]
            img = (alpha * fore + (1 - alpha) * back).astype(np.uint8)
            return img, (alpha[..., 0] > 0.5).astype(np.float32)

        ti, tmask = comp(m1, mb1, b1)
        gi, gmask = comp(m2, mb2, b2)
        prev = _morph(_jitter(_warp(obj_mask, mp, hw, True), rng, cfg.prev_jitter), rng,
                      cfg.prev_morph)
        return Pair(ti, tmask, gi, gmask, prev, np.ones(hw, dtype=np.float32))


def stack_pairs(pairs: Sequence[Pair]) -> dict[str, np.ndarray]:
    """Batch pairs: images ``(B, 3, H, W)`` uint8, masks ``(B, 1, H, W)`` float32."""
    out = {}
    for k in ("template_img", "target_img"):
        out[k] = np.stack([getattr(p, k).transpose(2, 0, 1) for p in pairs])
    for k in ("template_mask", "target_mask", "prev_mask", "valid"):
        out[k] = np.stack([getattr(p, k)[None] for p in pairs]).astype(np.float32)
    return out
