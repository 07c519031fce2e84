"""Bench: what self-supervised adaptation on a video's own frames gives the ``mast`` tracker.

For each sequence: fine-tune the given MAST model on the sequence's raw frames with
``gazevos train mast --init`` (masks never used), then track the sequence from its first
annotation with the base and the adapted model and score both (J, F: ``gazevos.eval``).
Prints one markdown row per sequence as it finishes, then the means.

``--base-results DIR`` scores the base model from result masks already written for it
(e.g. ``bench/davis_trackers.py --keep``) instead of tracking again.  ``--work`` keeps
the fine-tuned models and results; rerunning with the same ``--work`` skips fine-tunes
that finished (resumable).

    python bench/mast_adapt.py --checkpoint CKPT --sequences dog goat --steps 100
        [--base-results DIR] [--config YAML] [--set topk=10 ...] [--work DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-dev"


def score(root: Path, seq: str, checkpoint: str, out: Path, settings: dict) -> tuple[float, float]:
    """Track one sequence with a checkpoint into ``out``; return (J mean, F mean)."""
    from gazevos.eval.runner import run_sequences
    from gazevos.track import build_tracker

    run_sequences(root, [seq], lambda: build_tracker("mast", checkpoint=checkpoint, **settings),
                  out, force=True, progress=False)
    return score_results(root, seq, out)


def score_results(root: Path, seq: str, results: Path) -> tuple[float, float]:
    """(J mean, F mean) of result masks already written under ``results/seq``."""
    from gazevos.eval.davis import evaluate_sequence

    s = evaluate_sequence(root, results, seq)
    return float(s.j.mean()), float(s.f.mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--root", type=Path, default=DAVIS)
    ap.add_argument("--sequences", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--config", default=None, help="tracker YAML preset for both models")
    ap.add_argument("--set", nargs="*", default=[], help="tracker settings, NAME=VALUE")
    ap.add_argument("--base-results", type=Path, default=None,
                    help="result masks of the base model (BASE/<seq>/*.png) to score")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--finetune-only", action="store_true",
                    help="only fine-tune (into --work); score in a later run")
    args = ap.parse_args()
    import torch
    import yaml

    torch.set_num_threads(args.threads)
    settings: dict = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.config:
        settings["config"] = args.config
    work = args.work or Path(tempfile.mkdtemp(prefix="mast-adapt-"))
    print("| sequence | J&F base | J&F adapted | J base | J adapted | F base | F adapted "
          "| adapt s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for seq in args.sequences:
        ck_dir = work / f"adapt-{seq}"
        t0 = time.perf_counter()
        if not (ck_dir / "model.pt").is_file():
            subprocess.run([sys.executable, "-m", "gazevos.cli", "train", "mast", "--frames",
                            str(args.root / "JPEGImages" / "480p" / seq), "--out", str(ck_dir),
                            "--init", args.checkpoint, "--steps", str(args.steps), "--lr",
                            str(args.lr), "--threads", str(args.threads), "--no-progress",
                            "--force"], check=True)
            (ck_dir / "adapt_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
        dt = float((ck_dir / "adapt_seconds.txt").read_text())
        if args.finetune_only:
            print(f"fine-tuned {seq} in {dt:.0f} s", flush=True)
            continue
        if args.base_results is not None:
            jb, fb = score_results(args.root, seq, args.base_results)
        else:
            jb, fb = score(args.root, seq, args.checkpoint, work / "base", settings)
        ja, fa = score(args.root, seq, str(ck_dir / "model.pt"), work / "adapted", settings)
        rows.append((jb, ja, fb, fa, dt))
        print(f"| {seq} | {(jb + fb) / 2:.3f} | {(ja + fa) / 2:.3f} | {jb:.3f} | {ja:.3f} "
              f"| {fb:.3f} | {fa:.3f} | {dt:.0f} |", flush=True)
    n = len(rows)
    if not n:
        return 0
    jb, ja, fb, fa, dt = (sum(r[i] for r in rows) / n for i in range(5))
    print(f"| mean ({n}) | {(jb + fb) / 2:.3f} | {(ja + fa) / 2:.3f} | {jb:.3f} | {ja:.3f} "
          f"| {fb:.3f} | {fa:.3f} | {dt:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
