"""k-fold generalisation of RANet on the DAVIS-2016 dev split (train on some sequences,
score on the others), with tracker ablations on the same trained models.

    python bench/ranet_kfold.py --out DIR [--root DAVIS] [--folds 2] [--time-limit 20]
        [--threads 1] [--train-config YAML] [--steps N] [--init-encoder MAST.pt]
        [--loss iou] [--discriminant] [--nms]
        [--variant NAME:key=value,key=value ...] [--eval-only] [--fold K ...]

Fold ``k`` tests on the sequences ``names[k::folds]`` (names sorted) and trains on the
rest, the last of which is the validation sequence for early stopping.  Training runs
``gazevos train ranet`` in a child process with ``--resume`` (it continues the run staged
beside ``DIR/foldK/ckpt`` after an earlier invocation ran out of ``--time-limit``, or starts
one); a fold whose ``done`` marker exists, or whose ``ckpt`` holds a finished run, is not
trained again.  The variants use the latest ``model.pt`` (of the staged run while it is
unfinished: :func:`gazevos.train.staging.find_run`).  Each
variant (default ``full``: tracker defaults; e.g. ``noprev:prev_mask=false``) tracks the
test sequences with the fold's ``model.pt`` and is scored with the official protocol;
J&F over all test sequences of all folds is printed per variant, and written as JSON to
``DIR/summary.json``.  Variants are rerun only when their results are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "davis2016-dev"


def _parse_value(v: str) -> object:
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``name:key=value,key=value`` -> (name, overrides); tuples as ``a/b``."""
    name, _, rest = text.partition(":")
    out: dict[str, object] = {}
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        out[k] = tuple(_parse_value(x) for x in v.split("/")) if "/" in v else _parse_value(v)
    return name, out


def train_fold(args: argparse.Namespace, fold: Path) -> None:
    """Train (or resume) one fold's model in a child process."""
    from gazevos.io.rundir import read_manifest

    ckpt = fold / "ckpt"
    if (fold / "done").exists() or read_manifest(ckpt) is not None:
        return
    cmd = [sys.executable, "-m", "gazevos.cli", "train", "ranet", "--root", str(args.root),
           "--sequences-file", str(fold / "train.txt"), "--val-file", str(fold / "val.txt"),
           "--out", str(ckpt), "--threads", str(args.threads), "--no-progress",
           "--time-limit", str(args.time_limit)]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    if args.init_encoder:
        cmd += ["--init-encoder", str(args.init_encoder)]
    if args.train_config:
        cmd += ["--config", args.train_config]
    if args.loss:
        cmd += ["--loss", args.loss]
    if args.discriminant:
        cmd += ["--discriminant"]
    if args.nms:
        cmd += ["--nms"]
    cmd += ["--resume"]  # continue the staged run, if any (else start one)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env=env)
    print(f"{fold.name}: trained {time.monotonic() - t0:.0f} s", flush=True)
    if not args.keep_training:
        (fold / "done").write_text("trained\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=20.0, help="minutes per fold")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-config", default=None)
    ap.add_argument("--steps", type=int, default=0, help="training steps (0: the config's)")
    ap.add_argument("--init-encoder", default=None,
                    help="MAST checkpoint starting the encoder (config needs encoder: mast)")
    ap.add_argument("--loss", choices=["bce", "iou", "log_iou"], default=None)
    ap.add_argument("--discriminant", action="store_true")
    ap.add_argument("--nms", action="store_true")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME:key=value,... tracker overrides (repeatable)")
    ap.add_argument("--eval-only", action="store_true", help="never train")
    ap.add_argument("--fold", type=int, action="append", default=[],
                    help="run only this fold (1-based, repeatable; default: all)")
    ap.add_argument("--keep-training", action="store_true",
                    help="do not mark folds done (a later run resumes training)")
    args = ap.parse_args()
    if not (args.root / "JPEGImages").is_dir():
        print(f"DAVIS data not found at {args.root}; nothing to do")
        return 0
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from gazevos.eval.davis import evaluate_results, resolve_sequences, summarise
    from gazevos.eval.runner import run_sequences
    from gazevos.track import build_tracker
    from gazevos.train.staging import find_run

    names = sorted(resolve_sequences(args.root))
    variants = [parse_variant(v) for v in args.variant] or [("full", {})]
    per_variant: dict[str, list] = {v[0]: [] for v in variants}
    speed: dict[str, list[tuple[int, float]]] = {v[0]: [] for v in variants}
    for k in range(args.folds):
        if args.fold and k + 1 not in args.fold:
            continue
        fold = args.out / f"fold{k + 1}"
        fold.mkdir(parents=True, exist_ok=True)
        test = names[k::args.folds]
        train = [n for n in names if n not in test]
        for fname, items in (("train.txt", train[:-1]), ("val.txt", train[-1:]),
                             ("test.txt", test)):
            (fold / fname).write_text("".join(f"{n}\n" for n in items))
        if not args.eval_only:
            train_fold(args, fold)
        run = find_run(fold / "ckpt")
        if run is None:
            print(f"{fold.name}: no trained model yet", flush=True)
            continue
        model = run / "model.pt"
        for vname, over in variants:
            res = fold / f"results-{vname}"
            built: list = []

            def factory(over: dict = over, model: Path = model, built: list = built) -> object:
                built.append(build_tracker("ranet", checkpoint=model, threads=args.threads,
                                           **over))
                return built[-1]

            stats = run_sequences(args.root, test, factory, res, resume=True, progress=False)
            if stats.frames:
                speed[vname].append((stats.frames, stats.step_seconds))
            adapt = [a for t in built for a in getattr(t, "adaptations", [])]
            if adapt:  # online adaptation (ranet online_steps > 0): its share of the time
                total = sum(a["seconds"] for a in adapt)
                rest = max(1e-9, stats.step_seconds - total)
                print(f"{fold.name} {vname}: online adaptation "
                      f"{total / sum(a['objects'] for a in adapt):.1f} s per object, loss "
                      f"{np.mean([a['loss_first'] for a in adapt]):.3f} -> "
                      f"{np.mean([a['loss_last'] for a in adapt]):.3f}; the other steps "
                      f"{stats.frames / rest:.1f} frames/s", flush=True)
            scores = evaluate_results(args.root, res, test, workers=1)
            per_variant[vname].extend(scores.sequences)
            s = scores.summary()
            print(f"{fold.name} {vname}: J&F {s['JF_mean']:.3f} J {s['J_mean']:.3f} "
                  f"F {s['F_mean']:.3f} on {', '.join(test)}", flush=True)
    summary = {}
    for vname, seqs in per_variant.items():
        scores = summarise(seqs)
        s = scores.summary()
        frames = sum(f for f, _ in speed[vname])
        secs = sum(t for _, t in speed[vname])
        s["step_fps"] = frames / secs if secs else float("nan")
        s["per_sequence"] = {r.Sequence: round(float(r["J&F-Mean"]), 4)
                             for _, r in scores.per_sequence().iterrows()}
        summary[vname] = s
        print(f"ALL {vname}: J&F {s['JF_mean']:.3f} J {s['J_mean']:.3f} F {s['F_mean']:.3f} "
              f"J decay {s['J_decay']:.3f} step {s['step_fps']:.1f} frames/s", flush=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
