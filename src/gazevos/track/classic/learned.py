"""Learned per-pixel features for the ``classic`` tracker's classifier: the MAST encoder.

The self-supervised MAST encoder (``gazevos.models.mast``) gives 64-d features at 1/4 of its
input.  Boosted trees on 64 extra columns would be slow, so the features are L2-normalised
and projected on their ``dims`` principal components, fitted once per video on the first
frame the extractor sees (:meth:`MastFeatures.reset` forgets the projection).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gazevos.errors import GazevosError


def pca_basis(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and the top-``dims`` principal directions ``(D, dims)`` of ``x (N, D)``.

    Directions are ordered by decreasing variance; each column has unit length and its sign
    is fixed so that its largest-magnitude entry is positive (deterministic output).
    """
    if x.ndim != 2 or x.shape[0] < 2:
        raise GazevosError(f"PCA needs an (N >= 2, D) array, got shape {x.shape}")
    dims = min(dims, x.shape[1])
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    basis = vt[:dims].T.copy()
    signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(dims)])
    basis *= np.where(signs == 0, 1.0, signs)
    return mean.astype(np.float32), basis.astype(np.float32)


class MastFeatures:
    """MAST encoder features, PCA-reduced, as a :class:`~gazevos.track.classic.FeatureExtractor`.

    Args:
        checkpoint: MAST weights (default: the shipped model).
        scale: frames are resized by this factor before the encoder.
        dims: number of principal components kept.
        fit_pixels: at most this many pixels (a fixed random subset) fit the projection.

    Shapes: ``__call__``: ``(H, W, 3)`` uint8 RGB -> ``(h, w, dims)`` float32 with
    ``h = ceil(H * scale / 4)`` (and likewise ``w``).
    """

    def __init__(self, checkpoint: str | Path | None = None, scale: float = 0.5,
                 dims: int = 8, fit_pixels: int = 20000) -> None:
        from gazevos.models.mast.model import default_checkpoint, load_checkpoint

        if not 0.05 <= scale <= 2.0:
            raise GazevosError(f"learned_scale must be in [0.05, 2], got {scale}")
        if dims < 1:
            raise GazevosError(f"learned_dims must be at least 1, got {dims}")
        self.model = load_checkpoint(checkpoint or default_checkpoint()).eval()
        self.scale = scale
        self.dims = dims
        self.fit_pixels = fit_pixels
        self._mean: np.ndarray | None = None
        self._basis: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the projection: the next frame fits a new one (call per video)."""
        self._mean = self._basis = None

    def encode(self, image: np.ndarray) -> np.ndarray:
        """``(h, w, 64)`` L2-normalised encoder features of an ``(H, W, 3)`` uint8 RGB image."""
        from gazevos.models.mast.model import encode_image

        with torch.inference_mode():
            feat = encode_image(self.model, image, self.scale)[0]
            feat = torch.nn.functional.normalize(feat, dim=0)
        return feat.permute(1, 2, 0).numpy()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        feat = self.encode(image)
        h, w, d = feat.shape
        flat = feat.reshape(h * w, d)
        if self._basis is None:
            rng = np.random.default_rng(0)
            sub = flat if h * w <= self.fit_pixels else flat[
                rng.choice(h * w, self.fit_pixels, replace=False)]
            self._mean, self._basis = pca_basis(sub, self.dims)
        out = (flat - self._mean) @ self._basis
        return np.ascontiguousarray(out.reshape(h, w, -1), dtype=np.float32)
