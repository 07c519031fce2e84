"""What tracking every k-th frame costs in accuracy: DAVIS-2016 dev J&F by stride.

    python bench/stride_accuracy.py [--strides 1 2 3] [--tracker classic] [--set KEY=VALUE]

Each sequence goes through :func:`gazevos.track.resumable.track_pass` with ``stride`` k,
as ``annotate`` runs it (the frames in between take the nearer tracked frame's labels),
and is scored by :mod:`gazevos.eval.davis` (first and last frames not scored).  DAVIS is
24 frames/s, so stride 2 tracks 12 frames a second: more motion between tracked frames
than a 30 frames/s scene video at stride 2 (15 a second).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from gazevos.eval.davis import evaluate_sequence, resolve_sequences, summarise
from gazevos.eval.runner import check_sequence
from gazevos.io import read_mask, write_mask
from gazevos.runtime import configure_threads
from gazevos.track import build_tracker
from gazevos.track.resumable import track_pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared"
                                          / "data" / "davis2016-dev"))
    ap.add_argument("--strides", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--tracker", default="classic")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a tracker setting (YAML value), repeatable")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.set)}
    configure_threads(args.threads)
    seqs = resolve_sequences(args.root)
    for k in args.strides:
        with tempfile.TemporaryDirectory() as tmp:
            t0, n = time.perf_counter(), 0
            for s in seqs:
                source, mask_path = check_sequence(args.root, s)
                first = read_mask(mask_path)
                out = Path(tmp) / s
                out.mkdir()
                names = source.names
                done = track_pass(
                    source, build_tracker(args.tracker, **overrides),
                    lambda f, first=first: (first, None) if f.index == 0 else (None, None),
                    lambda f, lab, out=out, names=names: write_mask(
                        out / f"{names[f.index]}.png", lab),
                    n_frames=len(source), stride=k, progress=False)
                n += done.frames
            dt = time.perf_counter() - t0
            scores = [evaluate_sequence(args.root, tmp, s) for s in seqs]
            g = summarise(scores).global_table.iloc[0]
            per = ", ".join(f"{sc.sequence} {(sc.j.mean() + sc.f.mean()) / 2:.3f}"
                            for sc in scores)
            print(f"{' '.join(args.set)} stride {k}: J&F {g['J&F-Mean']:.3f} "
                  f"(J {g['J-Mean']:.3f}, F {g['F-Mean']:.3f}); {n / dt:.1f} frames/s\n  {per}",
                  flush=True)


if __name__ == "__main__":
    main()
