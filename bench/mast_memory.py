"""Bench: the ``mast`` tracker's memory stays bounded on a long stream.

Runs the tracker on a synthetic stream (a square moving around a textured background,
small frames so that it is quick) and compares the process RSS after the first 100
frames with the RSS at the end.  Exit code 1 if it grew by more than ``--tolerance-mb``.

    python bench/mast_memory.py --frames 10000 [--checkpoint CKPT]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--checkpoint", default=None, help="default: an untrained small model")
    ap.add_argument("--tolerance-mb", type=float, default=8.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from gazevos.runtime import keep_freed_memory
    from gazevos.track.mast import MastTracker

    keep_freed_memory()  # as the CLI and build_tracker do: freed blocks are kept for reuse

    ck = args.checkpoint
    if ck is None:
        from gazevos.models.mast.model import MastModel, MastModelConfig, model_to_checkpoint

        torch.manual_seed(0)
        ck = str(Path(tempfile.mkdtemp()) / "untrained.pt")
        cfg = MastModelConfig(widths=(8, 16), depths=(1, 1), feature_dim=16)
        torch.save(model_to_checkpoint(MastModel(cfg)), ck)
    trk = MastTracker.from_options(checkpoint=ck, scale=1.0)
    rng = np.random.default_rng(0)
    h, w = args.height, args.width
    bg = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    start = time.perf_counter()
    rss100 = 0.0
    for i in range(args.frames):
        img = bg.copy()
        y, x = 4 + (i % 20), 4 + (i * 3 % (w - 20))
        img[y:y + 12, x:x + 12] = (230, 30, 30)
        mask = None
        if i == 0:
            mask = np.zeros((h, w), np.uint8)
            mask[y:y + 12, x:x + 12] = 1
        trk.step(img, mask=mask)
        if i == 99:
            rss100 = rss_mb()
    end = rss_mb()
    dt = time.perf_counter() - start
    grow = end - rss100
    print(f"frames {args.frames} ({h}x{w}): RSS after 100 frames {rss100:.1f} MiB, at end "
          f"{end:.1f} MiB (+{grow:.1f}), memory frames {trk.memory_size}, "
          f"{args.frames / dt:.0f} frames/s")
    return 0 if grow <= args.tolerance_mb else 1


if __name__ == "__main__":
    sys.exit(main())
