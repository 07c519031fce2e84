"""Late fusion of ``classic`` and ``mast`` scored offline on DAVIS-2016 dev (issue 23).

    OMP_NUM_THREADS=1 nice -n 10 python bench/fusion_cv.py dump [--store /tmp/fusion-probs]
    OMP_NUM_THREADS=1 nice -n 10 python bench/fusion_cv.py late [--store ...] [--cache FILE]
    python bench/fusion_cv.py tables [--cache FILE]

The ``fusion`` tracker's *late* variant (``feedback: false``) fuses the final distributions
of ``classic`` and ``mast``, each tracking exactly as it does alone, so every late-fusion
candidate can be scored from one run of each:

* ``dump`` tracks every sequence with the two sub-trackers of a late ``fusion`` tracker
  (first annotation given) and stores their per-frame ``(K + 1, H, W)`` float32
  probabilities, one ``.npy`` per sequence and tracker, under ``--store`` (about 4.6 GB for
  the ten dev sequences; keep it out of the repository);
* ``late`` fuses the stored probabilities with
  :func:`gazevos.track.fusion.fuse_distributions` (the tracker's own code) for every late
  candidate of ``CANDIDATES["fusion"]`` in bench/cv_leaderboard.py, takes the labels as
  :class:`~gazevos.track.base.Prediction` does, scores them as ``gazevos.eval.davis`` does
  (J and F of the scored frames, ``summarise``) and appends the cells to the
  cross-validation cache, marked ``"offline": true``;
* the feedback candidates are tracked and scored by
  ``python bench/cv_leaderboard.py run --trackers fusion``; then
  ``python bench/cv_leaderboard.py report --trackers fusion`` cross-validates the whole set,
  and ``tables`` prints the markdown of docs/experiments/fusion.md (candidates and folds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cv_leaderboard import (  # noqa: E402
    DEFAULT_CACHE,
    DEFAULT_ROOT,
    _commit,
    append_cell,
    candidates_for,
    cell_key,
    current_base,
    read_cache,
    scores_of,
)

DEFAULT_STORE = Path("/tmp/fusion-probs")


def dump(args: argparse.Namespace) -> int:
    """Store the two sub-trackers' probabilities of every frame of every sequence."""
    import cv2
    import torch

    from gazevos.eval.davis import resolve_sequences
    from gazevos.eval.runner import check_sequence
    from gazevos.io.masks import read_mask
    from gazevos.track import build_tracker

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    args.store.mkdir(parents=True, exist_ok=True)
    trk = build_tracker("fusion", feedback=False)
    for seq in resolve_sequences(args.root, args.sequences or None):
        names = [args.store / f"{seq}.{sub.name}.npy" for sub in trk.trackers]
        if all(p.is_file() for p in names) and (args.store / f"{seq}.frames.json").is_file():
            continue
        source, mask_path = check_sequence(args.root, seq)
        mask = read_mask(mask_path)
        for sub, path in zip(trk.trackers, names, strict=True):
            sub.reset()
            t0 = time.perf_counter()
            probs, frames = [], []
            for frame in source:
                pred = sub.step(frame.image, mask=mask if frame.index == 0 else None)
                probs.append(pred.probs)
                frames.append(frame.name)
            np.save(path, np.stack(probs))
            print(f"{seq:16s} {sub.name:8s} {len(frames)} frames, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        (args.store / f"{seq}.frames.json").write_text(json.dumps(frames))
    return 0


def late(args: argparse.Namespace) -> int:
    """Score every late-fusion candidate from the stored probabilities; append cells."""
    from gazevos.eval.davis import (
        SequenceScores,
        annotation_files,
        resolve_sequences,
        summarise,
    )
    from gazevos.eval.metrics import db_eval_boundary, db_eval_iou
    from gazevos.io.masks import read_mask
    from gazevos.track.base import argmax_labels
    from gazevos.track.fusion import fuse_distributions

    base = current_base("fusion")
    cands = [c for c in candidates_for("fusion", base) if c.offline]
    cache = read_cache(args.cache)
    commit = _commit()
    for seq in resolve_sequences(args.root, args.sequences or None):
        todo = [c for c in cands if cell_key("fusion", base, c.settings, seq) not in cache]
        if not todo:
            continue
        frames = json.loads((args.store / f"{seq}.frames.json").read_text())
        a_all = np.load(args.store / f"{seq}.classic.npy", mmap_mode="r")
        b_all = np.load(args.store / f"{seq}.mast.npy", mmap_mode="r")
        files = annotation_files(args.root, seq)
        n_obj = int(read_mask(files[0]).max())
        ids = tuple(range(1, n_obj + 1))
        scored = files[1:-1]
        gts = [read_mask(p) for p in scored]
        where = [frames.index(p.stem) for p in scored]
        kid = np.arange(1, n_obj + 1, dtype=np.uint8)[:, None, None]
        for cand in todo:
            s = cand.settings
            t0 = time.perf_counter()
            j = np.zeros((n_obj, len(scored)))
            f = np.zeros((n_obj, len(scored)))
            for t, (gt, k) in enumerate(zip(gts, where, strict=True)):
                a, b = np.asarray(a_all[k]), np.asarray(b_all[k])
                lab = argmax_labels(fuse_distributions(a, b, s["weight"], s["rule"],
                                                       s["floor"]), ids)
                gt_k, res_k = gt[None] == kid, lab[None] == kid
                j[:, t] = db_eval_iou(gt_k, res_k)
                f[:, t] = db_eval_boundary(gt_k, res_k)
            row = summarise([SequenceScores(seq, tuple(p.stem for p in scored), j, f)]
                            ).per_sequence()
            rec = append_cell(args.cache, {
                "tracker": "fusion", "base": base, "candidate": cand.name, "settings": s,
                "sequence": seq, **scores_of(row), "frames": len(frames), "offline": True,
                "store": str(args.store), "threads": 1, "commit": commit})
            print(f"fusion   {cand.name:20s} {seq:16s} J&F {rec['jf']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s to score)", flush=True)
    return 0


def _candidate_rows(scores: dict[str, dict[str, float]], sequences: list[str],
                    cands: dict[str, object]) -> list[str]:
    """Per-candidate all-dev and per-sequence J&F, and the change from ``classic`` alone."""
    ref = scores["classic-alone"]
    lines = ["| candidate | variant | rule | weight | floor | revive | all-dev J&F | vs classic "
             "alone | sequences better / worse than classic by > 0.02 | "
             + " | ".join(sequences) + " |", "|" + " --- |" * (9 + len(sequences))]
    for name, per in scores.items():
        s = cands[name].settings  # type: ignore[attr-defined]
        mean = sum(per.values()) / len(per)
        d = [per[q] - ref[q] for q in sequences]
        lines.append(
            f"| {name} | {'feedback' if s['feedback'] else 'late'} | {s['rule']} | "
            f"{s['weight']} | {s['floor'] if s['rule'] == 'logodds' else '-'} | "
            f"{s['revive'] if s['feedback'] else '-'} | {mean:.3f} | "
            f"{mean - sum(ref.values()) / len(ref):+.3f} | "
            f"{sum(x > 0.02 for x in d)} / {sum(x < -0.02 for x in d)} | "
            + " | ".join(f"{per[q]:.3f}" for q in sequences) + " |")
    return lines


def _fold_rows(r: object, scores: dict[str, dict[str, float]]) -> list[str]:
    """Leave-one-sequence-out folds, with the two trackers alone on the held-out sequence."""
    lines = ["| held-out sequence | chosen on the other 9 | its mean there | its J&F held out | "
             "classic alone | mast alone |", "|" + " --- |" * 6]
    for f in r.loo.folds:  # type: ignore[attr-defined]
        (seq, jf), = f.held_out_scores.items()
        lines.append(f"| {seq} | {f.chosen} | {f.tuning_mean:.3f} | {jf:.3f} | "
                     f"{scores['classic-alone'][seq]:.3f} | {scores['mast-alone'][seq]:.3f} |")
    return lines


def tables(args: argparse.Namespace) -> int:
    """Print the summary, candidate and fold tables of the fusion candidates (markdown)."""
    from _cv_report import analyse, collect, summary_rows
    from gazevos.eval.davis import resolve_sequences

    sequences = resolve_sequences(args.root, args.sequences or None)
    base = current_base("fusion")
    cands = {c.name: c for c in candidates_for("fusion", base)}
    scores, incomplete = collect(read_cache(args.cache), "fusion", sequences, base)
    round2 = {n for n, c in cands.items() if "round 2" in c.why}
    variants = {"all candidates": scores,
                "round 1 only, fixed before any scoring": {
                    c: v for c, v in scores.items() if c not in round2},
                "late fusion only": {c: v for c, v in scores.items()
                                     if not cands[c].settings["feedback"]},
                "feedback fusion only": {c: v for c, v in scores.items()
                                         if cands[c].settings["feedback"]}}
    results = [analyse("fusion", v, incomplete, sequences, args.kfold_seeds, base, variant=k)
               for k, v in variants.items() if v]
    rows = [line.replace("| nan |", "| - |") for line in summary_rows(results)]
    print("\n".join(rows) + "\n")
    print("\n".join(_candidate_rows(scores, sequences, cands)) + "\n")
    for r in results:
        print(f"Leave-one-sequence-out folds, {r.variant}:\n")
        print("\n".join(_fold_rows(r, scores)) + "\n")
    if incomplete:
        print(f"Not complete in the cache (left out): {', '.join(incomplete)}.")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("dump", "late", "tables"):
        p = sub.add_parser(name)
        p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="DAVIS folder")
        p.add_argument("--store", type=Path, default=DEFAULT_STORE,
                       help="folder of the stored probabilities")
        p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
        p.add_argument("--sequences", nargs="+", default=None,
                       help="default: ImageSets/dev.txt")
        p.add_argument("--kfold-seeds", type=int, default=10)
    args = ap.parse_args()
    if not (args.root / "JPEGImages").is_dir():
        print(f"skipped: no DAVIS data at {args.root} (pass --root)")
        return 0
    return {"dump": dump, "late": late, "tables": tables}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
