"""Issue 23's idea (b): RANet's encoder features as extra columns of ``classic``'s classifier.

    python bench/ranet_features.py [--level emb s8 both] [--dims 8] [--sequences ...]

The shipped RANet model (``gazevos/checkpoints/ranet.pt``) was trained on four dev
sequences (car-roundabout, drift-chicane, horsejump-high, parkour) and validated on a
fifth (soapbox), so it is scored only on the other five (``docs/experiments/ranet.md``,
fold 1): breakdance, dog, goat, libby, scooter-black.  Each frame is resized to the
model's input size; the features (``emb``: the L2-normalised stride-16 embedding RANet
matches templates with; ``s8``: the encoder's stride-8 map; ``both``) are L2-normalised
per pixel and reduced to ``--dims`` principal components fitted on the first frame, as
``classic``'s MAST features are (:class:`gazevos.track.classic.learned.MastFeatures`).
Prints DAVIS J&F per sequence for ``classic`` without and with them, and frames/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from gazevos.eval.davis import evaluate_sequence, resolve_sequences, summarise
from gazevos.eval.runner import check_sequence
from gazevos.io import read_mask, write_mask
from gazevos.models.ranet.checkpoint import default_checkpoint, load_with_input_size
from gazevos.models.ranet.model import normalise_image
from gazevos.runtime import configure_threads
from gazevos.track.classic import ClassicTracker
from gazevos.track.classic.learned import pca_basis
from gazevos.track.resumable import track_pass

HELD_OUT = ["breakdance", "dog", "goat", "libby", "scooter-black"]


class RanetFeatures:
    """``(H, W, 3)`` uint8 RGB -> ``(h, w, dims)`` float32 PCA-reduced RANet features."""

    def __init__(self, level: str, dims: int) -> None:
        self.model, self.size = load_with_input_size(default_checkpoint())
        self.level, self.dims = level, dims
        self._mean: np.ndarray | None = None
        self._basis: np.ndarray | None = None

    def reset(self) -> None:
        self._mean = self._basis = None

    def encode(self, image: np.ndarray) -> np.ndarray:
        h, w = self.size
        x = torch.from_numpy(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA))
        x = normalise_image(x.permute(2, 0, 1)[None])
        with torch.inference_mode():
            feats, emb = self.model.embed(x)
            s8 = feats[2]
            parts = []
            if self.level in ("emb", "both"):
                parts.append(F.interpolate(emb, size=s8.shape[-2:], mode="bilinear",
                                           align_corners=False))
            if self.level in ("s8", "both"):
                parts.append(F.normalize(s8))
            out = F.normalize(torch.cat(parts, 1))[0]
        return out.permute(1, 2, 0).numpy()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        feat = self.encode(image)
        h, w, d = feat.shape
        flat = feat.reshape(h * w, d)
        if self._basis is None:
            self._mean, self._basis = pca_basis(flat, self.dims)
        out = (flat - self._mean) @ self._basis
        return np.ascontiguousarray(out.reshape(h, w, -1), dtype=np.float32)


def run(root: str, seqs: list[str], extractor: RanetFeatures | None) -> tuple[list, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t0, n = time.perf_counter(), 0
        for s in seqs:
            source, mask_path = check_sequence(root, s)
            first = read_mask(mask_path)
            out = Path(tmp) / s
            out.mkdir()
            names = source.names
            trk = ClassicTracker.from_options(extractor=extractor)
            done = track_pass(
                source, trk, lambda f, first=first: (first, None) if f.index == 0 else (None, None),
                lambda f, lab, out=out, names=names: write_mask(out / f"{names[f.index]}.png", lab),
                n_frames=len(source), progress=False)
            n += done.frames
        fps = n / (time.perf_counter() - t0)
        return [evaluate_sequence(root, tmp, s) for s in seqs], fps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared"
                                          / "data" / "davis2016-dev"))
    ap.add_argument("--sequences", nargs="+", default=HELD_OUT)
    ap.add_argument("--level", nargs="+", default=["emb", "s8", "both"])
    ap.add_argument("--dims", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    configure_threads(args.threads)
    seqs = resolve_sequences(args.root, args.sequences)
    for level in ["none", *args.level]:
        ext = None if level == "none" else RanetFeatures(level, args.dims)
        scores, fps = run(args.root, seqs, ext)
        g = summarise(scores).global_table.iloc[0]
        per = ", ".join(f"{sc.sequence} {(sc.j.mean() + sc.f.mean()) / 2:.3f}" for sc in scores)
        print(f"{level} dims {args.dims}: J&F {g['J&F-Mean']:.3f}; {fps:.1f} frames/s\n  {per}",
              flush=True)


if __name__ == "__main__":
    main()
