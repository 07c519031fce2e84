"""Bench: what self-supervised adaptation on a video's own frames gives the ``mast`` tracker.

For each sequence: fine-tune the given MAST model on the sequence's raw frames with
``gazevos train mast --init`` (masks never used), then track the sequence from its first
annotation with the base and the adapted model and score both (J, F: ``gazevos.eval``).

    python bench/mast_adapt.py --checkpoint CKPT --sequences dog goat --steps 100
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-dev"


def score(root: Path, seq: str, checkpoint: str, work: Path) -> tuple[float, float]:
    """Track one sequence with a checkpoint and return (J mean, F mean)."""
    from gazevos.eval.davis import evaluate_sequence
    from gazevos.eval.runner import run_sequences
    from gazevos.track import build_tracker

    out = work / f"res-{Path(checkpoint).parent.name}-{seq}"
    run_sequences(root, [seq], lambda: build_tracker("mast", checkpoint=checkpoint), out,
                  force=True, progress=False)
    s = evaluate_sequence(root, out, seq)
    return float(s.j.mean()), float(s.f.mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--root", type=Path, default=DAVIS)
    ap.add_argument("--sequences", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="mast-adapt-"))
    print("| sequence | J&F base | J&F adapted | J base | J adapted | F base | F adapted "
          "| adapt s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for seq in args.sequences:
        ck_dir = work / f"adapt-{seq}"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gazevos.cli", "train", "mast", "--frames",
                        str(args.root / "JPEGImages" / "480p" / seq), "--out", str(ck_dir),
                        "--init", args.checkpoint, "--steps", str(args.steps), "--lr",
                        str(args.lr), "--threads", str(args.threads), "--no-progress",
                        "--force"], check=True)
        dt = time.perf_counter() - t0
        jb, fb = score(args.root, seq, args.checkpoint, work)
        ja, fa = score(args.root, seq, str(ck_dir / "model.pt"), work)
        print(f"| {seq} | {(jb + fb) / 2:.3f} | {(ja + fa) / 2:.3f} | {jb:.3f} | {ja:.3f} "
              f"| {fb:.3f} | {fa:.3f} | {dt:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
