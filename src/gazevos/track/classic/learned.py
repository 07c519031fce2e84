"""Learned per-pixel features for the ``classic`` tracker's classifier: the MAST encoder.

The self-supervised MAST encoder (``gazevos.models.mast``) gives 64-d features at 1/4 of its
input.  Boosted trees on 64 extra columns would be slow, so the features are L2-normalised
and projected on their ``dims`` principal components, fitted once per video on the first
frame the extractor sees (:meth:`MastFeatures.reset` forgets the projection).

``device`` runs the encoder on a GPU (float16 autocast there unless ``amp`` is False); the
features come back as float32 numpy arrays on the CPU, and the PCA runs there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gazevos.devices import amp_enabled, autocast, resolve_device, restore_device
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
        device: where the encoder runs (``auto``, ``cpu``, ``cuda[:N]``; None: the CPU).
        amp: float16 autocast on CUDA (None: on there; ignored on the CPU).

    Shapes: ``__call__``: ``(H, W, 3)`` uint8 RGB -> ``(h, w, dims)`` float32 with
    ``h = ceil(H * scale / 4)`` (and likewise ``w``).
    """

    def __init__(self, checkpoint: str | Path | None = None, scale: float = 0.5,
                 dims: int = 8, fit_pixels: int = 20000,
                 device: str | torch.device | None = None, amp: bool | None = None) -> None:
        from gazevos.models.mast.model import default_checkpoint, load_checkpoint

        if not 0.05 <= scale <= 2.0:
            raise GazevosError(f"learned_scale must be in [0.05, 2], got {scale}")
        if dims < 1:
            raise GazevosError(f"learned_dims must be at least 1, got {dims}")
        self.device = resolve_device(device)
        self.amp = amp_enabled(self.device, amp)
        self.model = load_checkpoint(checkpoint or default_checkpoint()).eval().to(self.device)
        self.scale = scale
        self.dims = dims
        self.fit_pixels = fit_pixels
        self._mean: np.ndarray | None = None
        self._basis: np.ndarray | None = None

    def to(self, device: str | torch.device | None, amp: bool | None = None) -> MastFeatures:
        """Run the encoder on ``device`` from now on (see the class arguments); returns
        ``self``."""
        self.device = resolve_device(device)
        self.amp = amp_enabled(self.device, amp)
        self.model.to(self.device)
        return self

    def __setstate__(self, state: dict[str, object]) -> None:
        # a tracker state saved on a GPU goes on there, or on the CPU
        self.__dict__.update(state)
        restore_device(self)

    def reset(self) -> None:
        """Forget the projection: the next frame fits a new one (call per video)."""
        self._mean = self._basis = None

    def encode(self, image: np.ndarray) -> np.ndarray:
        """``(h, w, 64)`` L2-normalised encoder features of an ``(H, W, 3)`` uint8 RGB image."""
        from gazevos.models.mast.model import encode_image

        with torch.inference_mode(), autocast(self.device, self.amp):
            feat = encode_image(self.model, image, self.scale, device=self.device)[0]
            feat = torch.nn.functional.normalize(feat.float(), dim=0)
        return feat.permute(1, 2, 0).cpu().numpy()

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
