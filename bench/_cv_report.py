"""``python bench/cv_leaderboard.py report``: cross-validate the cached per-sequence scores.

Reads the cache written by ``cv_leaderboard.py run`` and, per tracker, prints (and with
``--write-docs`` / ``--update-benchmarks`` writes) the all-dev J&F of the default and of the
best candidate, the leave-one-sequence-out and 5-fold CV J&F, and per-candidate tables.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from cv_leaderboard import (
    BASES,
    DOC,
    RANET_KFOLD,
    candidates_for,
    cell_key,
    current_base,
    read_cache,
)
from gazevos.eval.crossval import CrossValidation, cross_validate, k_folds, leave_one_out
from gazevos.eval.davis import resolve_sequences

#: leaderboard rows (first cell) that get a CV figure from a tracker of this bench
LEADERBOARD_ROWS = {"classic": "classic", "flow": "flow", "mast": "mast", "copy": "copy",
                    "fusion": "fusion"}
RANET_ROW = "ranet (shipped; 4 of these sequences were its training data)"
#: rows this bench does not cross-validate (their cell says so)
NOT_CROSS_VALIDATED = ("mast (fast preset)", "ranet (session-4 ResNet model, shipped until "
                       "session 6; 4 of these sequences were its training data)")
K = 5


def _mean(values: object) -> float:
    vals = list(values)  # type: ignore[call-overload]
    return math.fsum(vals) / len(vals)


def collect(cache: dict[str, dict], tracker: str, sequences: list[str], base: str,
            speed_ok_only: bool = False) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``{candidate: {sequence: J&F}}`` of the candidates with every sequence cached, in
    candidate-set order (default first), and the names of incomplete candidates."""
    scores, incomplete = {}, []
    for cand in candidates_for(tracker, base):
        if speed_ok_only and not cand.speed_ok:
            continue
        cells = [cache.get(cell_key(tracker, base, cand.settings, s)) for s in sequences]
        if all(cells):
            scores[cand.name] = {s: c["jf"] for s, c in zip(sequences, cells, strict=True)}
        else:
            incomplete.append(cand.name)
    return scores, incomplete


@dataclass
class TrackerCV:
    """Figures of one tracker around one base."""

    tracker: str
    base: str
    variant: str
    scores: dict[str, dict[str, float]]
    incomplete: list[str]
    loo: CrossValidation
    kfold: list[float]

    @property
    def all_dev(self) -> dict[str, float]:
        return {c: _mean(v.values()) for c, v in self.scores.items()}

    @property
    def best(self) -> tuple[str, float]:
        name = max(self.all_dev, key=lambda c: self.all_dev[c])  # first on ties
        return name, self.all_dev[name]


def analyse(tracker: str, scores: dict[str, dict[str, float]], incomplete: list[str],
            sequences: list[str], kfold_seeds: int, base: str,
            variant: str = "") -> TrackerCV:
    loo = cross_validate(scores, leave_one_out(sequences))
    k = min(K, len(sequences))
    kf = [cross_validate(scores, k_folds(sequences, k, s)).score for s in range(kfold_seeds)]
    return TrackerCV(tracker, base, variant, scores, incomplete, loo, kf)


def _choices(cv: CrossValidation) -> str:
    return ", ".join(f"{c} x{n}" for c, n in cv.chosen_counts().most_common())


def _se(values: object) -> float:
    """Standard error of a mean over sequences (sample standard deviation / sqrt(n))."""
    vals = list(values)  # type: ignore[call-overload]
    m = _mean(vals)
    return math.sqrt(math.fsum((v - m) ** 2 for v in vals) / (len(vals) - 1) / len(vals))


def default_name(r: TrackerCV) -> str | None:
    """The candidate that is the tracker's shipped setting: ``default``, or (``fusion``,
    whose candidates all name their switches) the one whose switches equal its config's
    defaults; None when no candidate is."""
    if "default" in r.scores:
        return "default"
    from gazevos.track.registry import tracker_class

    cfg_cls = tracker_class(r.tracker).config_cls
    if cfg_cls is None:
        return None
    cfg = cfg_cls()
    for c in candidates_for(r.tracker, r.base):
        if c.name in r.scores and c.settings and all(
                getattr(cfg, k, object()) == v for k, v in c.settings.items()):
            return c.name
    return None


def summary_rows(results: list[TrackerCV]) -> list[str]:
    lines = ["| tracker | defaults | candidates | all-dev J&F, default | best candidate, all-dev "
             "J&F | **CV J&F, leave-one-out** | CV J&F, 5-fold (mean of shuffles; range) | "
             "standard error over sequences | leave-one-out choices |", "|" + " --- |" * 9]
    for r in results:
        best, best_jf = r.best
        kf = (f"{_mean(r.kfold):.3f} ({min(r.kfold):.3f}-{max(r.kfold):.3f})"
              if len(r.scores) > 1 else f"{r.kfold[0]:.3f}")
        name = f"{r.tracker} ({r.variant})" if r.variant else r.tracker
        lines.append(f"| {name} | {r.base} | {len(r.scores)} | "
                     f"{r.all_dev.get(default_name(r) or '', float('nan')):.3f} | "
                     f"{best} {best_jf:.3f} | "
                     f"**{r.loo.score:.3f}** | {kf} | {_se(r.loo.per_sequence.values()):.3f} | "
                     f"{_choices(r.loo)} |")
    return lines


def candidate_rows(r: TrackerCV, sequences: list[str]) -> list[str]:
    why = {c.name: c for c in candidates_for(r.tracker, r.base)}
    dname = default_name(r)
    base = r.scores.get(dname) if dname else None
    lines = ["| candidate | overrides | why | all-dev J&F | vs default | sequences better / "
             "worse by > 0.02 | " + " | ".join(sequences) + " |",
             "|" + " --- |" * (6 + len(sequences))]
    for name, per in r.scores.items():
        over = ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in why[name].settings.items())
        over = over or "-"
        if base is not None:
            d = [per[s] - base[s] for s in sequences]
            vs = f"{r.all_dev[name] - r.all_dev[dname]:+.3f}"
            bw = f"{sum(x > 0.02 for x in d)} / {sum(x < -0.02 for x in d)}"
        else:
            vs = bw = "-"
        lines.append(f"| {name} | {over} | {why[name].why} | {r.all_dev[name]:.3f} | {vs} | "
                     f"{bw} | " + " | ".join(f"{per[s]:.3f}" for s in sequences) + " |")
    return lines


def fold_rows(r: TrackerCV) -> list[str]:
    dname = default_name(r)
    base = r.scores.get(dname) if dname else None
    lines = ["| held-out sequence | chosen on the other 9 | its mean there | its J&F held out | "
             "default's J&F held out | chosen - default |", "|" + " --- |" * 6]
    for f in r.loo.folds:
        (seq, jf), = f.held_out_scores.items()
        d = base[seq] if base else float("nan")
        lines.append(f"| {seq} | {f.chosen} | {f.tuning_mean:.3f} | {jf:.3f} | {d:.3f} | "
                     f"{jf - d:+.3f} |")
    return lines


def markdown(results: list[TrackerCV], sequences: list[str], cache_path: Path) -> str:
    out = ["Generated by `python bench/cv_leaderboard.py report --write-docs` from "
           f"`{cache_path.relative_to(cache_path.parents[2])}`.", "", *summary_rows(results),
           "", f"`ranet` (not re-run): {RANET_KFOLD:.3f}, the 2-fold x 5-seed held-out J&F of "
           "bench/ranet_kfold.py (docs/experiments/ranet.md).", ""]
    for r in results:
        if r.variant:
            continue  # same cells as the headline entry
        out += [f"#### `{r.tracker}`, defaults {r.base}: candidates (per-sequence J&F)", "",
                *candidate_rows(r, sequences), ""]
        if len(r.scores) > 1:
            out += [f"#### `{r.tracker}`, defaults {r.base}: leave-one-sequence-out folds", "",
                    *fold_rows(r), ""]
        if r.incomplete:
            out += [f"Not complete in the cache (left out): {', '.join(r.incomplete)}.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def write_block(path: Path, name: str, block: str) -> None:
    from gazevos.io.atomic import atomic_write

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    if start not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{start}\n{end}\n"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    with atomic_write(path) as tmp:
        tmp.write_text(before + start + "\n" + block + end + after)


def report(args: argparse.Namespace) -> int:
    sequences = resolve_sequences(args.root, args.sequences or None)
    cache = read_cache(args.cache)
    results = []
    for tracker in args.trackers:
        for base in BASES[tracker]:
            scores, incomplete = collect(cache, tracker, sequences, base)
            if not scores:
                continue
            cands = candidates_for(tracker, base)
            if all(c.speed_ok for c in cands):
                results.append(analyse(tracker, scores, incomplete, sequences,
                                       args.kfold_seeds, base))
                continue
            ok, _ = collect(cache, tracker, sequences, base, speed_ok_only=True)
            results.append(analyse(tracker, ok, incomplete, sequences, args.kfold_seeds, base))
            results.append(analyse(tracker, scores, incomplete, sequences, args.kfold_seeds,
                                   base, variant="speed target ignored"))
    text = markdown(results, sequences, args.cache)
    print(text)
    if args.write_docs:
        write_block(DOC, "cv-tables", text)
        print(f"wrote {DOC}")
    if args.update_benchmarks:
        from _leaderboard import update_column

        board = {t: current_base(t) for t in BASES}
        if args.leaderboard_base:
            board["classic"] = args.leaderboard_base
        cells = {LEADERBOARD_ROWS[r.tracker]: f"{r.loo.score:.3f}" for r in results
                 if r.base == board[r.tracker] and not r.variant and not r.incomplete}
        cells[RANET_ROW] = f"{RANET_KFOLD:.3f}"
        cells.update({row: "n/a" for row in NOT_CROSS_VALIDATED})
        missing = update_column("leaderboard", "CV J&F", cells, "J&F")
        print(f"BENCHMARKS.md: CV J&F set for {', '.join(k for k in cells if k not in missing)}"
              + (f"; rows not found: {', '.join(missing)}" if missing else ""))
    return 0
