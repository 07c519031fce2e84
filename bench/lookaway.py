"""Look-away benchmark: the camera leaves the object for a while, then comes back.

    python bench/lookaway.py [--trackers classic mast] [--away-frames 24] [--set KEY=VALUE]
                             [--label NAME] [--json bench/results/lookaway.json]

A head camera loses the tracked objects whenever the wearer looks away (issue 23 names
re-acquisition after occlusion).  For each DAVIS-2016 dev sequence, ``--away-frames``
frames of the next sequence in the list (resized to its size; 24 = one second) are
spliced in after its frame ``n // 3``: inserted (``--mode insert``, the sequence waits) or
in place of its next frames (``--mode replace``, the scene goes on meanwhile; shortened
to leave two frames after it).  The tracker is given the object on frame 0, as in
DAVIS.  Scores (``gazevos.eval.lookaway``; J of all objects as one mask):

* J before: mean J before the look-away;
* false area / false frames: what the tracker still marks on the away frames (mean area
  as a fraction of the true object area, and the share of away frames above 10 %);
* J after: mean J on the frames after the return, against the same frames tracked
  without a look-away ("uninterrupted");
* recovery: frames after the return until J reaches 0.5 (never: counted as not found).

Each tracker runs in this process, one thread for OpenCV / torch / OpenMP.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from gazevos.eval.davis import annotation_files, resolve_sequences
from gazevos.eval.lookaway import lookaway_schedule, lookaway_scores
from gazevos.eval.runner import check_sequence
from gazevos.io import read_mask
from gazevos.runtime import configure_threads
from gazevos.track import build_tracker

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "davis2016-dev"


def _frames(root: Path, seq: str) -> list[np.ndarray]:
    source, _ = check_sequence(root, seq)
    return [f.image for f in source]


def _track(tracker, frames: list[np.ndarray], first: np.ndarray) -> list[np.ndarray]:
    tracker.reset()
    return [np.asarray(tracker.step(img, mask=first if k == 0 else None).labels)
            for k, img in enumerate(frames)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--trackers", nargs="+", default=["classic", "mast"])
    ap.add_argument("--away-frames", type=int, default=24)
    ap.add_argument("--mode", choices=("insert", "replace"), default="insert",
                    help="insert: the sequence waits while the camera looks away; replace: "
                         "it goes on (the away frames take the place of its next frames)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a tracker setting (YAML value), repeatable")
    ap.add_argument("--label", default=None, help="row label (default: tracker + settings)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "lookaway.json")
    args = ap.parse_args()
    if not args.root.is_dir():
        print(f"no DAVIS data at {args.root}: nothing to do")
        return 0
    configure_threads(1)
    overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.set)}
    seqs = resolve_sequences(args.root)
    rows = json.loads(args.json.read_text()) if args.json.is_file() else []
    for name in args.trackers:
        label = args.label or " ".join([name, *args.set]
                                       + ([f"({args.mode})"] if args.mode != "insert" else []))
        tracker = build_tracker(name, **overrides)
        per: list[dict] = []
        t0 = time.perf_counter()
        for s, seq in enumerate(seqs):
            other = seqs[(s + 1) % len(seqs)]
            frames = _frames(args.root, seq)
            h, w = frames[0].shape[:2]
            away = [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)
                    for im in _frames(args.root, other)]
            away = [away[j % len(away)] for j in range(args.away_frames)]
            truth = [read_mask(p) for p in annotation_files(args.root, seq)]
            first = truth[0]
            n = len(frames)
            k = n // 3
            replace = args.mode == "replace"
            m = min(args.away_frames, n - k - 3) if replace else args.away_frames
            sched = lookaway_schedule(n, k, m, replace=replace)
            spliced = [frames[i] if kind == "seq" else away[i] for kind, i in sched]
            out = _track(tracker, spliced, first)
            pred_seq: list[np.ndarray | None] = [None] * n
            pred_away = []
            for (kind, i), lab in zip(sched, out, strict=True):
                if kind == "seq":
                    pred_seq[i] = lab
                else:
                    pred_away.append(lab)
            resume = k + 1 + (m if replace else 0)
            sc = lookaway_scores(truth, pred_seq, pred_away, k, resume_at=resume)
            base = lookaway_scores(truth, _track(tracker, frames, first), [], k,
                                   resume_at=resume)
            per.append({"sequence": seq, "away_from": other, "j_before": sc.j_before,
                        "false_area": sc.false_area, "false_frames": sc.false_frames,
                        "j_after": sc.j_after, "j_after_uninterrupted": base.j_after,
                        "recovery_frames": sc.recovery_frames})
            print(f"{label:24s} {seq:16s} J before {sc.j_before:.3f}  away: area "
                  f"{sc.false_area:.2f}, frames {sc.false_frames:.2f}  J after "
                  f"{sc.j_after:.3f} (uninterrupted {base.j_after:.3f})  recovery "
                  f"{sc.recovery_frames}", flush=True)
        found = [r["recovery_frames"] for r in per if r["recovery_frames"] is not None]
        row = {"label": label, "tracker": name, "settings": overrides,
               "away_frames": args.away_frames, "mode": args.mode,
               "j_before": float(np.mean([r["j_before"] for r in per])),
               "false_area": float(np.mean([r["false_area"] for r in per])),
               "false_frames": float(np.mean([r["false_frames"] for r in per])),
               "j_after": float(np.mean([r["j_after"] for r in per])),
               "j_after_uninterrupted": float(np.mean([r["j_after_uninterrupted"]
                                                       for r in per])),
               "found_again": len(found), "sequences": len(per),
               "median_recovery_frames": float(np.median(found)) if found else None,
               "seconds": round(time.perf_counter() - t0, 1),
               "load": round(os.getloadavg()[0], 1),
               "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
               "per_sequence": per}
        rows = [r for r in rows if r["label"] != label] + [row]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print("\n| tracker | J before | false area away | false frames away | J after | J after, "
          "uninterrupted | found again | median recovery frames |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        rec = r["median_recovery_frames"]
        print(f"| {r['label']} | {r['j_before']:.3f} | {r['false_area']:.2f} | "
              f"{r['false_frames']:.2f} | {r['j_after']:.3f} | "
              f"{r['j_after_uninterrupted']:.3f} | {r['found_again']} / {r['sequences']} | "
              f"{'-' if rec is None else f'{rec:g}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
