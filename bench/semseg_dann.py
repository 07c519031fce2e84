"""Measured domain adaptation: source-only vs DANN on head-camera-shifted DAVIS frames.

Data: the DAVIS dev frames with their fg/bg masks at 120x214.  Split (``--split``):

* ``temporal`` (default): every sequence is cut in two halves in time; one half of every
  sequence is the labelled *source* (unshifted), the other half, passed through
  :class:`gazevos.train.domain_shift.HeadCamShift`, is the *target*: its frames are used
  unlabelled for adaptation and its (geometrically shifted) masks only for scoring.  Same
  objects, new camera: the thesis setting (Cityscapes classes, head-camera video).
  Even seeds take first halves as source, odd seeds second halves.
* ``sequence``: 5 source sequences, 5 target sequences, drawn per seed (new objects *and*
  new camera).

Every method sees the same split and seed (paired comparison).  Methods: ``source-only``
(no target frames at all), ``dann-l0`` (target frames in the batch but lambda 0: only
batch-norm statistics see them), ``dann-l0.01``, ``dann-l0.1``.  Scores: foreground IoU
and mean IoU (2 classes) over all target pixels (ignoring the black fisheye corners), plus
source-only on the *unshifted* target frames (what the shift costs).

    python bench/semseg_dann.py --seeds 0 1 2 --steps 300 --class-weights 1 3 --out r.json
    python bench/semseg_dann.py --table --out r.json     # the markdown table again
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gazevos.config import load_config
from gazevos.models.semseg.checkpoint import load_model
from gazevos.train.domain_shift import HeadCamShift
from gazevos.train.semseg import (
    RunOptions,
    SemsegTrainConfig,
    confusion,
    iou_from_confusion,
    train_semseg,
)
from gazevos.train.semseg_data import LabelledSet, load_labelled

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-dev"


def split(groups: list[str], seed: int) -> tuple[list[str], list[str]]:
    """A seeded half / half split of the sequence names: (source, target)."""
    names = sorted(set(groups))
    perm = np.random.default_rng(1000 + seed).permutation(len(names))
    half = len(names) // 2
    return sorted(names[i] for i in perm[:half]), sorted(names[i] for i in perm[half:])


def split_indices(groups: list[str], how: str, seed: int
                  ) -> tuple[list[int], list[int], list[str], list[str]]:
    """Source and target image indices (and a description of each side).

    ``sequence``: whole sequences on each side (:func:`split`).  ``temporal``: every
    sequence is cut in two halves in time; even seeds take the first halves as labelled
    source and the second halves as target, odd seeds the other way round.
    """
    if how == "sequence":
        src_names, tgt_names = split(groups, seed)
        return ([i for i, g in enumerate(groups) if g in set(src_names)],
                [i for i, g in enumerate(groups) if g in set(tgt_names)], src_names, tgt_names)
    first, second = [], []
    for name in sorted(set(groups)):
        idx = [i for i, g in enumerate(groups) if g == name]
        first += idx[: len(idx) // 2]
        second += idx[len(idx) // 2:]
    if seed % 2:
        return second, first, ["second halves"], ["first halves"]
    return first, second, ["first halves"], ["second halves"]


def scores(model_path: Path, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    iou = iou_from_confusion(confusion(load_model(model_path), images, labels))
    return {"fg_iou": float(iou[1]), "miou": float(np.nanmean(iou))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--davis", type=Path, default=DAVIS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.01, 0.1])
    ap.add_argument("--class-weights", type=float, nargs="*", default=None,
                    help="cross-entropy class weights (background, foreground)")
    ap.add_argument("--split", choices=["temporal", "sequence"], default="temporal",
                    help="temporal: labelled first (or second) halves of every sequence, "
                         "target the other halves; sequence: 5 / 5 sequences")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/gazevos-semseg-dann"))
    ap.add_argument("--out", type=Path, default=Path("bench_semseg_dann.json"))
    ap.add_argument("--table", action="store_true", help="only print the table of --out")
    args = ap.parse_args()
    if args.table:
        print(markdown(json.loads(args.out.read_text())["runs"]))
        return
    torch.set_num_threads(args.threads)
    base = load_config(SemsegTrainConfig, "semseg", {
        "steps": args.steps,
        "class_weights": tuple(args.class_weights) if args.class_weights else None})
    shift = HeadCamShift()
    t0 = time.monotonic()
    data = load_labelled([args.davis], base.size, 2, True)
    # target frames: shifted images, geometry-shifted labels; keys = frame position
    shifted = np.stack([shift.image(im, i) for i, im in enumerate(data.images)])
    shifted_labels = np.stack([shift.labels(lab) for lab in data.labels])
    results: list[dict[str, object]] = []
    if args.out.exists():
        results = json.loads(args.out.read_text())["runs"]
    done = {(r["seed"], r["method"]) for r in results}
    for seed in args.seeds:
        src_idx, keep, src_names, tgt_names = split_indices(data.groups, args.split, seed)
        src = LabelledSet(data.images[src_idx], data.labels[src_idx],
                          [data.groups[i] for i in src_idx])
        tgt_img, tgt_lab = shifted[keep], shifted_labels[keep]
        cfg = dataclasses.replace(base, seed=seed)
        methods: list[tuple[str, float | None]] = [("source-only", None)]
        methods += [(f"dann-l{lam:g}", lam) for lam in args.lambdas]
        for name, lam in methods:
            if (seed, name) in done:
                continue
            run_cfg = cfg if lam is None else dataclasses.replace(cfg, dann_lambda=lam)
            start = time.monotonic()
            path = train_semseg(src, None if lam is None else tgt_img,
                                args.work / f"seed{seed}-{name}", run_cfg,
                                RunOptions(force=True, progress=False))
            train_s = time.monotonic() - start
            row: dict[str, object] = {"seed": seed, "method": name, "source": src_names,
                                      "target": tgt_names, "train_s": round(train_s, 1),
                                      **scores(path, tgt_img, tgt_lab)}
            if lam is None:
                clean = scores(path, data.images[keep], data.labels[keep])
                row["unshifted_fg_iou"], row["unshifted_miou"] = clean["fg_iou"], clean["miou"]
                row["source_fg_iou"] = scores(path, src.images, src.labels)["fg_iou"]
            results.append(row)
            print(json.dumps(row), flush=True)
            args.out.write_text(json.dumps({
                "steps": args.steps, "split": args.split, "shift": dataclasses.asdict(shift),
                "config": dataclasses.asdict(base), "machine": platform.processor() or
                platform.machine(), "threads": args.threads, "runs": results}, indent=1))
    print(markdown(results))
    print(f"wall {time.monotonic() - t0:.0f} s")


def _points(d: list[float]) -> str:
    if not d:
        return "-"
    wins = sum(v > 0 for v in d)
    return f"{100 * np.mean(d):+.1f} points ({wins}/{len(d)} seeds better)"


def markdown(results: list[dict]) -> str:
    """Table: per method, target fg IoU / mIoU per seed, mean +- std, paired gain over
    source-only."""
    seeds = sorted({int(r["seed"]) for r in results})
    methods = list(dict.fromkeys(str(r["method"]) for r in results))
    get = {(int(r["seed"]), str(r["method"])): r for r in results}
    head = ["method", *(f"seed {s} fg IoU" for s in seeds), "fg IoU mean +- sd",
            "mIoU mean", "fg IoU gain vs source-only (paired)", "vs dann-l0 (paired)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for m in methods:
        fg = [get[(s, m)]["fg_iou"] if (s, m) in get else float("nan") for s in seeds]
        mi = [get[(s, m)]["miou"] for s in seeds if (s, m) in get]
        gain = [get[(s, m)]["fg_iou"] - get[(s, "source-only")]["fg_iou"] for s in seeds
                if (s, m) in get and (s, "source-only") in get]
        gain0 = [get[(s, m)]["fg_iou"] - get[(s, "dann-l0")]["fg_iou"] for s in seeds
                 if (s, m) in get and (s, "dann-l0") in get]
        lines.append("| " + " | ".join([m, *(f"{v:.3f}" for v in fg),
                                         f"{np.nanmean(fg):.3f} +- {np.nanstd(fg):.3f}",
                                         f"{np.mean(mi):.3f}",
                                         _points(gain), _points(gain0)]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
