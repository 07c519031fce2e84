"""Keyframes in both directions on DAVIS-2016 dev: J&F of forward-only tracking from frame 0
against keyframes at the first, middle and last frames (ground-truth masks given there),
fused by confidence or by distance; and a middle-only keyframe tracked backward to frame 0.

    python bench/keyframes.py --trackers classic mast [--root DAVIS] [--sequences ...]
        [--json OUT.json [--resume]]   # track, score, save per-frame scores, print tables
    python bench/keyframes.py --from-json OUT.json [OUT2.json ...]   # tables only

Runs per tracker and sequence (``gazevos.track.keyframes.track_keyframes`` with
``FolderFrameReader`` frames):

* ``forward``: keyframe 0 only (the usual semi-supervised run);
* ``kf3-confidence`` / ``kf3-distance`` / ``kf3-product``: keyframes 0, mid = N // 2 and
  N - 1; all fusions use the same tracking passes (recorded once, replayed for the other
  fusions: the fusion does not change which passes run);
* ``mid``: keyframe mid only (backward to frame 0, forward to the end).

Scores (``gazevos.eval.davis``, per object then mean over the objects of all sequences):
``official`` = frames 1 .. N-2 (the DAVIS protocol; the middle keyframe counts, perfectly);
``non-kf`` = frames 1 .. N-2 without the middle one (the same frames for every run);
``before-mid`` = frames 1 .. mid-1, ``after-mid`` = mid+1 .. N-2.  The fusion default is chosen
by two-fold cross-validation over sequences (alphabetical, alternating): pick the better
fusion by ``non-kf`` J&F on one fold, report it on the other, both ways.  Also reported: how
well the per-object confidence (``gazevos.track.base.object_confidence``) flags bad frames
(J < 0.5) of the forward run at ``LOW_CONFIDENCE``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "davis2016-dev"
FUSIONS = ("confidence", "distance", "product")
CONFIGS = ("forward", *(f"kf3-{f}" for f in FUSIONS), "mid")


class _Recording:
    """Duck-typed tracker that records every prediction of a real one (per pass)."""

    def __init__(self, tracker: Any, log: list[Any]) -> None:
        self.tracker, self.log = tracker, log

    def reset(self) -> None:
        self.tracker.reset()

    def step(self, frame: np.ndarray, mask: np.ndarray | None = None,
             objects: Any = None) -> Any:
        pred = self.tracker.step(frame, mask=mask, objects=objects)
        self.log.append(pred)
        return pred


class _Replay:
    """Duck-typed tracker that replays one recorded pass."""

    def __init__(self, log: list[Any]) -> None:
        self.it = iter(log)

    def reset(self) -> None:
        return None

    def step(self, frame: np.ndarray, mask: np.ndarray | None = None,
             objects: Any = None) -> Any:
        return next(self.it)


def _scores(root: Path, seq: str, labels: dict[int, np.ndarray], tmp: Path) -> dict[str, Any]:
    from gazevos.eval.davis import annotation_files, evaluate_sequence
    from gazevos.io.masks import write_mask

    files = annotation_files(root, seq)
    out = tmp / seq
    out.mkdir(parents=True, exist_ok=True)
    for t, p in enumerate(files):
        write_mask(out / f"{p.stem}.png", labels[t])
    s = evaluate_sequence(root, tmp, seq)
    return {"frames": list(s.frames), "j": s.j.tolist(), "f": s.f.tolist()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import cv2

    from gazevos.eval.davis import annotation_files, resolve_sequences
    from gazevos.io.frame_reader import FolderFrameReader
    from gazevos.io.masks import read_mask
    from gazevos.track import build_tracker
    from gazevos.track.keyframes import track_keyframes

    cv2.setNumThreads(args.threads)
    root = Path(args.root)
    names = resolve_sequences(root, args.sequences or None)
    result: dict[str, Any] = {"root": str(root), "threads": args.threads,
                              "load_avg_start": os.getloadavg()[0], "runs": {}}
    if args.json and args.resume and Path(args.json).is_file():
        result = json.loads(Path(args.json).read_text())
    for name in args.trackers:
        template = build_tracker(name)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(args.threads)
        runs: dict[str, Any] = result["runs"].setdefault(name, {})
        for seq in names:
            if seq in runs and all(c in runs[seq] for c in args.configs):
                continue  # --resume
            frames = FolderFrameReader(root / "JPEGImages" / "480p" / seq)
            gts = [read_mask(p) for p in annotation_files(root, seq)]
            gts = [np.where(g == 255, 0, g).astype(np.uint8) for g in gts]
            n = len(gts)
            mid = n // 2
            seq_out: dict[str, Any] = {"_n": n, "_mid": mid}
            runs[seq] = seq_out

            def go(keys: dict[int, np.ndarray], fusion: str, factory: Any,
                   n: int = n, frames: Any = frames) -> tuple[dict, dict, float]:
                labels: dict[int, np.ndarray] = {}
                conf: dict[int, dict[int, float]] = {}

                def write(i: int, lab: np.ndarray, cf: dict[int, float],
                          labels: dict = labels, conf: dict = conf) -> None:
                    labels[i], conf[i] = lab, cf

                t0 = time.perf_counter()
                track_keyframes(frames, keys, factory, n, fusion=fusion, write=write)
                return labels, conf, time.perf_counter() - t0

            with tempfile.TemporaryDirectory() as tmp:
                kf3 = [c for c in args.configs if c.startswith("kf3-")]
                for cfg in args.configs:
                    if cfg in kf3[1:]:
                        continue  # replayed from the first kf3 run's passes
                    passes: list[list[Any]] = []

                    def factory(passes: list[list[Any]] = passes, template: Any = template
                                ) -> Any:
                        passes.append([])
                        return _Recording(template, passes[-1])

                    if cfg == "forward":
                        keys = {0: gts[0]}
                    elif cfg == "mid":
                        keys = {mid: gts[mid]}
                    else:
                        keys = {0: gts[0], mid: gts[mid], n - 1: gts[n - 1]}
                    fusion = cfg[4:] if cfg.startswith("kf3-") else "confidence"
                    labels, conf, secs = go(keys, fusion, factory)
                    steps = sum(len(p) for p in passes)
                    seq_out[cfg] = {**_scores(root, seq, labels, Path(tmp) / cfg),
                                    "conf": {str(t): c for t, c in conf.items()},
                                    "seconds": secs, "steps": steps}
                    print(f"{name} {seq} {cfg}: {steps} steps {secs:.1f} s", flush=True)
                    for other in (kf3[1:] if cfg == kf3[0] else []):
                        it = iter(passes)
                        labels, conf, secs2 = go(keys, other[4:],
                                                 lambda it=it: _Replay(next(it)))
                        seq_out[other] = {**_scores(root, seq, labels, Path(tmp) / other),
                                          "conf": {str(t): c for t, c in conf.items()},
                                          "seconds": secs, "steps": steps,
                                          "fuse_seconds": secs2}
                    passes.clear()
            frames.close()
            if args.json:  # after every sequence: a run cut short keeps what it did
                Path(args.json).write_text(json.dumps(result))
    result["load_avg_end"] = os.getloadavg()[0]
    return result


# -- tables -------------------------------------------------------------------------------
def _select(frames: list[str], n: int, mid: int, which: str) -> list[int]:
    idx = [int(f) for f in frames]  # DAVIS frame names are their indices
    keep = {"official": lambda t: True,
            "non-kf": lambda t: t != mid,
            "before-mid": lambda t: t < mid,
            "after-mid": lambda t: t > mid}[which]
    return [k for k, t in enumerate(idx) if keep(t)]


def _jf(runs: dict[str, Any], cfg: str, which: str, seqs: list[str]) -> tuple[float, float, float]:
    """J&F, J, F means over the objects of ``seqs`` (DAVIS: per object, then mean)."""
    from gazevos.eval.metrics import db_statistics

    js, fs = [], []
    for s in seqs:
        r = runs[s]
        if cfg not in r:
            return float("nan"), float("nan"), float("nan")
        sel = _select(r[cfg]["frames"], r["_n"], r["_mid"], which)
        for jo, fo in zip(r[cfg]["j"], r[cfg]["f"], strict=True):
            js.append(db_statistics(np.asarray(jo)[sel])[0])
            fs.append(db_statistics(np.asarray(fo)[sel])[0])
    j, f = float(np.mean(js)), float(np.mean(fs))
    return (j + f) / 2, j, f


def tables(result: dict[str, Any]) -> str:
    from gazevos.track.base import LOW_CONFIDENCE

    lines = []
    lines.append("| tracker | sequences | run | J&F official | J&F non-kf | J non-kf | F non-kf | "
                 "J&F before mid | J&F after mid | tracker steps | s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, runs in result["runs"].items():
        seqs = list(runs)
        for cfg in CONFIGS:
            if not all(cfg in runs[s] for s in seqs):
                continue
            off = _jf(runs, cfg, "official", seqs)[0]
            nk = _jf(runs, cfg, "non-kf", seqs)
            bm = _jf(runs, cfg, "before-mid", seqs)[0]
            am = _jf(runs, cfg, "after-mid", seqs)[0]
            steps = sum(runs[s][cfg]["steps"] for s in seqs)
            secs = sum(runs[s][cfg]["seconds"] for s in seqs)
            lines.append(f"| {name} | {len(seqs)} | {cfg} | {off:.3f} | {nk[0]:.3f} | "
                         f"{nk[1]:.3f} | {nk[2]:.3f} | {bm:.3f} | {am:.3f} | {steps} | "
                         f"{secs:.0f} |")
    lines.append("")
    lines.append("Per sequence, J&F on the non-keyframe frames:")
    lines.append("")
    lines.append("| tracker | sequence | frames | " + " | ".join(CONFIGS) + " |")
    lines.append("|---|---|---|" + "---|" * len(CONFIGS))
    for name, runs in result["runs"].items():
        for s in runs:
            cells = [f"{_jf(runs, c, 'non-kf', [s])[0]:.3f}" if c in runs[s] else "-"
                     for c in CONFIGS]
            lines.append(f"| {name} | {s} | {runs[s]['_n']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Fusion chosen by 2-fold cross-validation (non-kf J&F; folds: alternate "
                 "sequences in alphabetical order):")
    lines.append("")
    lines.append("| tracker | chosen on | chosen (" + " / ".join(FUSIONS) + ") | "
                 "its J&F on the other fold | " + " / ".join(FUSIONS) + " there |")
    lines.append("|---|---|---|---|---|")
    for name, runs in result["runs"].items():
        seqs = sorted(runs)
        fus = [fu for fu in FUSIONS if all(f"kf3-{fu}" in runs[s] for s in seqs)]
        if len(fus) < 2:
            continue
        folds = (seqs[0::2], seqs[1::2])
        for a, b in (folds, folds[::-1]):
            score = {fu: _jf(runs, f"kf3-{fu}", "non-kf", a)[0] for fu in fus}
            pick = max(score, key=lambda k: score[k])
            other = {fu: _jf(runs, f"kf3-{fu}", "non-kf", b)[0] for fu in fus}
            lines.append(f"| {name} | {', '.join(a)} | {pick} ("
                         + " / ".join(f"{score[fu]:.3f}" for fu in fus) + ") | "
                         f"{other[pick]:.3f} | " + " / ".join(f"{other[fu]:.3f}" for fu in fus)
                         + " |")
    lines.append("")
    lines.append(f"Confidence as an error flag (forward run, frames 1..N-2, object-frames with "
                 f"J < 0.5 = bad; flagged = confidence < {LOW_CONFIDENCE}):")
    lines.append("")
    lines.append("| tracker | object-frames | bad | flagged | bad flagged (recall) | "
                 "flagged bad (precision) | Spearman(conf, J) |")
    lines.append("|---|---|---|---|---|---|---|")
    for name, runs in result["runs"].items():
        js, cs = [], []
        for r in runs.values():
            if "forward" not in r:
                continue
            fw = r["forward"]
            for k, jo in enumerate(fw["j"]):
                for t, frame in enumerate(fw["frames"]):
                    c = fw["conf"].get(str(int(frame)), {})
                    js.append(jo[t])
                    cs.append(float(c.get(str(k + 1), c.get(k + 1, 0.0))))
        if not js:
            continue
        j, c = np.asarray(js), np.asarray(cs)
        bad, flag = j < 0.5, c < LOW_CONFIDENCE
        rec = (bad & flag).sum() / max(1, bad.sum())
        prec = (bad & flag).sum() / max(1, flag.sum())
        rj = np.argsort(np.argsort(j))
        rc = np.argsort(np.argsort(c))
        rho = float(np.corrcoef(rj, rc)[0, 1])
        lines.append(f"| {name} | {j.size} | {int(bad.sum())} | {int(flag.sum())} | {rec:.2f} "
                     f"| {prec:.2f} | {rho:.2f} |")
    lines.append("")
    lines.append(f"load average (1 min) at start / end: {result.get('load_avg_start', 0):.1f} / "
                 f"{result.get('load_avg_end', 0):.1f} on {os.cpu_count()} cores")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(DEFAULT_ROOT))
    ap.add_argument("--trackers", nargs="+", default=["classic"])
    ap.add_argument("--sequences", nargs="*")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="save per-frame scores here (after every sequence)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the sequences already in --json and run the others")
    ap.add_argument("--from-json", nargs="+", help="print the tables of saved runs")
    args = ap.parse_args()
    if args.from_json:
        result: dict[str, Any] = {"runs": {}}
        for p in args.from_json:
            r = json.loads(Path(p).read_text())
            for name, runs in r["runs"].items():  # several files may hold one tracker
                result["runs"].setdefault(name, {}).update(runs)
            result["load_avg_start"] = r.get("load_avg_start", 0)
            result["load_avg_end"] = r.get("load_avg_end", 0)
        print(tables(result))
        return 0
    if not Path(args.root).is_dir():
        print(f"no DAVIS folder at {args.root}; nothing measured")
        return 0
    result = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result))
    print(tables(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
