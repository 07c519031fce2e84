"""Cross-validated J&F of the trackers on the DAVIS-2016 dev split (issue 23, item 1).

    python bench/cv_leaderboard.py run [--trackers classic flow mast copy] [--candidates NAME ...]
        [--base LABEL] [--sequences SEQ ...] [--threads 1] [--root DAVIS] [--cache FILE]
    python bench/cv_leaderboard.py report [--trackers ...] [--kfold-seeds 10]
        [--write-docs] [--update-benchmarks [--leaderboard-base LABEL]]

The default settings of ``classic``, ``flow`` and ``mast`` were chosen by comparing
settings on the same ten sequences the leaderboard scores them on, so their leaderboard
J&F is optimistic.  This bench re-runs that choice honestly:

* ``run`` tracks every sequence with every *candidate* setting of a tracker (the settings
  that were compared when its defaults were chosen, listed in :data:`CANDIDATES` with where
  the comparison is documented, each one switch away from the defaults :data:`BASES`
  names) and appends one line per (tracker, defaults, settings, sequence) -- J&F, J, F,
  frames, seconds -- to a JSON-lines cache (default
  ``bench/results/cv-scores.jsonl``).  A cell already in the cache is not run again, so an
  interrupted run resumes where it stopped.  Tracking and scoring reuse
  ``gazevos.eval.runner`` (``check_sequence``, ``track_sequence``) and
  ``gazevos.eval.davis`` (``evaluate_sequence``, ``summarise``); per-sequence J&F is the
  official (J-Mean + F-Mean) / 2 of the sequence's object.
* ``report`` cross-validates the choice with :func:`gazevos.eval.crossval.cross_validate`:
  leave-one-sequence-out (the headline: deterministic, and each choice is made on 9 of the
  10 sequences, closest to how the defaults were chosen on all 10) and 5-fold (mean over
  ``--kfold-seeds`` shuffles, seeds 0..N-1).  For each held-out sequence the candidate with
  the best mean J&F on the tuning sequences is chosen (ties: the first listed, the default)
  and scored on the held-out one; the CV J&F is the mean over the ten held-out sequences
  (DAVIS-2016 has one object per sequence, so this is the leaderboard's object mean).
  ``--write-docs`` rewrites the generated tables of docs/experiments/cross-validation.md,
  ``--update-benchmarks`` the "CV J&F" column of BENCHMARKS.md's leaderboard.

``fusion``'s candidates name all its switches (late and feedback fusion at several weights);
``run`` tracks the feedback ones, the late ones (``offline``) are scored from stored
sub-tracker probabilities by ``bench/fusion_cv.py late`` (docs/experiments/fusion.md).

``ranet`` is not re-run (about 85 s of per-video adaptation per object, and its model
training itself is the tuned part): its CV figure is the 2-fold x 5-seed held-out J&F of
bench/ranet_kfold.py (docs/experiments/ranet.md).  ``copy`` has no settings: CV = all-dev.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "davis2016-dev"
DEFAULT_CACHE = REPO / "bench" / "results" / "cv-scores.jsonl"
DOC = REPO / "docs" / "experiments" / "cross-validation.md"


@dataclass(frozen=True)
class Candidate:
    """One setting of a tracker: ``settings`` are config overrides on top of the defaults;
    ``speed_ok`` is false for a setting the default was not allowed to be (too slow for the
    tracker's speed target): the headline CV chooses among the others only."""

    name: str
    settings: dict = field(default_factory=dict)
    why: str = ""
    speed_ok: bool = True
    #: scored by another bench (fusion's late candidates: bench/fusion_cv.py late), not by run
    offline: bool = False


def _fusion(name: str, feedback: bool, rule: str, weight: float, floor: float = 0.01,
            revive: bool = True, why: str = "") -> Candidate:
    settings = {"feedback": feedback, "rule": rule, "weight": weight, "floor": floor,
                "revive": revive}
    return Candidate(name, settings, why or ("late fusion" if not feedback
                                             else "feedback fusion"), offline=not feedback)


#: fusion (issue 23): late fusion (offline) around the two trackers alone, feedback fusion
#: (online) at a few weights; fixed before any of them was scored on all ten sequences
FUSION_CANDIDATES: list[Candidate] = [
    _fusion("classic-alone", False, "mean", 1.0, why="weight 1: classic's masks"),
    _fusion("mast-alone", False, "mean", 0.0, why="weight 0: mast's masks"),
    *[_fusion(f"late-lo-{w}", False, "logodds", w) for w in (0.3, 0.4, 0.5, 0.6, 0.7)],
    *[_fusion(f"late-lo{f}-{w}", False, "logodds", w, floor=f)
      for f in (1e-6, 0.1) for w in (0.3, 0.5, 0.7)],
    *[_fusion(f"late-mean-{w}", False, "mean", w) for w in (0.3, 0.4, 0.5, 0.6, 0.7)],
    *[_fusion(f"fb-lo-{w}", True, "logodds", w) for w in (0.3, 0.4, 0.5, 0.7)],
    _fusion("fb-mean-0.5", True, "mean", 0.5),
    _fusion("fb-lo-0.3-norevive", True, "logodds", 0.3, revive=False,
            why="feedback fusion, classic keeps its lost objects lost"),
    # round 2, added after round 1 was scored (around its best, fb-lo-0.4, and a softer
    # floor for libby's cliff between 0.4 and 0.5): the CV of round 1 alone is reported too
    *[_fusion(f"fb-lo-{w}", True, "logodds", w, why="feedback fusion, round 2")
      for w in (0.35, 0.45)],
    *[_fusion(f"fb-lo0.1-{w}", True, "logodds", w, floor=0.1, why="feedback fusion, round 2")
      for w in (0.4, 0.5)],
]

#: scikit-learn's boosting (classic's default until session 13)
_SKLEARN_BOOST = {"boost_library": "sklearn", "boost_min_leaf": 20}

#: Candidate sets: the settings compared when each tracker's defaults were chosen on the dev
#: split, one switch at a time from today's default (listed first: it wins ties).
CANDIDATES: dict[str, list[Candidate]] = {
    "classic": [  # docs/experiments/classic-flow.md (ablations) and commits 863cec8, 3cc7beb
        Candidate("default", {}, "the defaults (no switch)"),
        Candidate("no-flow-check", {"flow_check": False}, "ablation, dev 0.695"),
        Candidate("no-position", {"use_position": False}, "ablation, dev 0.687"),
        Candidate("hole-0.02", {"hole_fraction": 0.02}, "default before 083615c, dev 0.683"),
        Candidate("band-gain-0", {"band_motion_gain": 0.0}, "default before 3cc7beb, dev 0.658"),
        Candidate("band-0.25", {"band_fraction": 0.25}, "first version's band (863cec8)"),
        Candidate("samples-any", {"recent_object_needs_prior": False},
                  "first version's sampling (863cec8)"),
        Candidate("unbalanced", {"balance_classes": False}, "before balanced sampling (863cec8)"),
        Candidate("interior-2", {"interior_stride": 2}, "speed option added in 863cec8, kept at 1"),
        Candidate("check-fast", {"flow_check_preset": "fast"},
                  "cheaper check added in 863cec8, kept at same"),
        Candidate("prior-max-0.9", {"prior_max": 0.9}, "knob named in issue 23 (no record)"),
        Candidate("boost-80", {"boost_rounds": 80}, "knob named in issue 23 (no record)"),
        Candidate("dis-fast", {"dis_preset": "fast"}, "knob named in issue 23 (no record)"),
        Candidate("retrain-5", {"retrain_every": 5}, "re-training rate (ablation: never, 0.625)"),
        # session 11 (issue 23: drift and re-acquisition, docs/experiments/classic-flow.md);
        # every setting tried on dev in that session is here, new switches and old knobs
        Candidate("reacq-tracking", {"reacquire_model": "tracking", "reacquire_restart": False},
                  "session 11: the lost-object search before session 11"),
        Candidate("reacq-anchor", {"reacquire_model": "anchor"},
                  "session 11: lost-object search with the given mask's classifier"),
        Candidate("reacq-anchor-restart", {"reacquire_model": "anchor",
                                           "reacquire_restart": True},
                  "session 11: ... and the tracking classifier restarts when found"),
        Candidate("reacq-collapse-restart", {"reacquire_model": "anchor-after-collapse",
                                             "reacquire_restart": True},
                  "session 11: anchor search only for objects lost by collapse"),
        Candidate("reacq-anchor-sim-restart", {"reacquire_model": "anchor",
                                               "reacquire_rank": "similarity",
                                               "reacquire_restart": True},
                  "session 11: ... and the colour-closest candidate"),
        Candidate("anchor-check-0.5", {"recent_anchor_check": 0.5},
                  "session 11: recent object samples vetted by the given mask's classifier"),
        Candidate("anchor-check-0.2", {"recent_anchor_check": 0.2}, "session 11: same, 0.2"),
        Candidate("gap-0.5", {"component_max_gap": 0.5},
                  "session 11: components far from the largest dropped"),
        Candidate("gap-1", {"component_max_gap": 1.0}, "session 11: same, 1 object size"),
        Candidate("reacq-restart-gap-0.5", {"reacquire_model": "anchor",
                                            "reacquire_restart": True,
                                            "component_max_gap": 0.5},
                  "session 11: combination"),
        # session 11, existing knobs aimed at breakdance's lost limbs (missed parts learnt
        # as background, the prior floor that keeps them out)
        Candidate("bg-margin-1", {"recent_background_margin": 1.0},
                  "session 11: existing knob (default 0), never compared on record"),
        Candidate("prior-min-0.2", {"prior_min": 0.2},
                  "session 11: existing knob (default 0.1), never compared on record"),
        Candidate("recent-2", {"recent_frames": 2}, "session 11: existing knob (default 4)"),
        Candidate("recent-8", {"recent_frames": 8}, "session 11: existing knob (default 4)"),
        Candidate("recent-4", {"recent_frames": 4}, "default until session 13"),
        Candidate("band-gain-3", {"band_motion_gain": 3.0},
                  "session 11: existing knob (default 2; 0 was compared)"),
        Candidate("band-gain-2", {"band_motion_gain": 2.0},
                  "default until session 11 (CV chose 3 in 10 of 10 folds)"),
        Candidate("band-max-60", {"band_max": 60}, "session 11: existing knob (default 40)"),
        Candidate("anchor-weight-2", {"anchor_weight": 2},
                  "session 11: the given mask's samples count twice in every fit"),
        Candidate("anchor-weight-4", {"anchor_weight": 4}, "session 11: ... four times"),
        Candidate("check-fb", {"flow_check_photometric": 0.0},
                  "the forward-backward flow check, default until session 12"),
        # session 12 (issue 21: one optical flow less per frame): the flow check by grey
        # levels; 10, 20 and 35 were probed on all ten sequences before this set was fixed
        *[Candidate(f"photo-{t}", {"flow_check_photometric": float(t)},
                    f"session 12: photometric flow check, {t} grey levels")
          for t in (6, 10, 14, 20, 35)],
        # ... round 2, added after those were scored: photo-10, and where more than a share
        # of the frame fails it the forward-backward check decides (low-contrast cuts)
        *[Candidate(f"photo-10-confirm-{f}", {"flow_check_photometric": 10.0,
                                              "flow_check_confirm": f},
                    f"session 12: photo-10, forward-backward check above {f} failing")
          for f in (0.3, 0.45)],
        # session 12 (issue 21: the re-training is the largest CPU cost left at 1080p)
        Candidate("retrain-15", {"retrain_every": 15}, "session 12: fewer re-trainings"),
        Candidate("retrain-20", {"retrain_every": 20}, "session 12: fewer re-trainings"),
        Candidate("defer-2", {"fit_defer": 2},
                  "session 12: the re-training overlaps two frames (it is waited for)"),
        Candidate("defer-3", {"fit_defer": 3}, "session 12: ... three frames"),
        # session 12 (issue 21): fewer, larger boosting trees (a fit's cost is per iteration)
        Candidate("boost-20-lr0.35", {"boost_rounds": 20, "boost_learning_rate": 0.35},
                  "session 12: half the boosting iterations"),
        Candidate("boost-20-l31", {"boost_rounds": 20, "boost_leaves": 31,
                                   "boost_learning_rate": 0.35},
                  "session 12: half the iterations, trees of 31 leaves"),
        Candidate("boost-25-l23", {"boost_rounds": 25, "boost_leaves": 23,
                                   "boost_learning_rate": 0.3},
                  "session 12: 25 iterations, trees of 23 leaves"),
        # session 13 (issues 21, 23): XGBoost's boosted trees (fit releases the GIL,
        # predictions 3x faster); its leaf bound is a hessian, boost_min_leaf / 4
        *[Candidate(f"xgb-leaf{n}", {"boost_library": "xgboost", "boost_min_leaf": n},
                    f"session 13: XGBoost, min_child_weight {n / 4:g}") for n in (1, 4, 20, 80)],
        Candidate("xgb-leaf4-retrain5", {"boost_library": "xgboost", "boost_min_leaf": 4,
                                         "retrain_every": 5},
                  "session 13: XGBoost, re-trained twice as often"),
        Candidate("sklearn", _SKLEARN_BOOST, "default until session 13"),
        Candidate("xgb-leaf4-60", {"boost_library": "xgboost", "boost_min_leaf": 4,
                                   "boost_rounds": 60},
                  "session 13: XGBoost, 60 iterations"),
        # session 14 (issue 21): coarser histograms, cheaper fits (9,000 samples: 67 ms at
        # 256 bins, 43 at 64)
        *[Candidate(f"bins-{n}", {"boost_bins": n}, f"session 14: {n} histogram bins")
          for n in (32, 64, 128)],
        Candidate("samples-1000", {"samples_per_class": 1000},
                  "session 14: a third fewer samples per frame, cheaper fits"),
    ],
    # docs/experiments/classic-flow.md, the `flow` table (all rows with a config); the default
    # was chosen for >= 25 frames/s (FlowConfig), so stride 3 was rejected for its DIS time
    "flow": [
        Candidate("default", {}, "medium, finest 0, stride 4, 12 iterations, hard masks"),
        Candidate("original", {"finest_scale": -1, "patch_stride": -1, "grad_iters": -1,
                               "refine_iters": -1, "binarize": False},
                  "preset medium, soft masks"),
        Candidate("medium-hard", {"finest_scale": -1, "patch_stride": -1, "grad_iters": -1,
                                  "refine_iters": -1}, "preset medium, hard masks"),
        Candidate("fast-hard", {"dis_preset": "fast", "finest_scale": -1, "patch_stride": -1,
                                "grad_iters": -1, "refine_iters": -1}, "preset fast"),
        Candidate("medium-norefine", {"finest_scale": -1, "patch_stride": -1, "grad_iters": -1},
                  "medium, no refinement"),
        Candidate("f0-s3-i25", {"patch_stride": 3, "grad_iters": 25},
                  "finest 0, stride 3, 25; DIS 31 ms vs 17", speed_ok=False),
        Candidate("f0-s3-i12", {"patch_stride": 3}, "finest 0, stride 3, 12; DIS 28 ms vs 17",
                  speed_ok=False),
        Candidate("f0-s5-i12", {"patch_stride": 5}, "finest 0, stride 5, 12"),
        Candidate("f0-s6-i16", {"patch_stride": 6, "grad_iters": 16}, "finest 0, stride 6, 16"),
        Candidate("scale-0.75", {"flow_scale": 0.75, "finest_scale": -1, "patch_stride": -1,
                                 "grad_iters": -1}, "medium, no refinement, flow_scale 0.75"),
    ],
    "mast": [  # docs/experiments/mast.md (session-2 temperatures, session-3 re-measurements)
        Candidate("default", {}, "key temperature 0.05, ROI 0.02, scale 0.5"),
        Candidate("trained-temps", {"temperature": 0.1, "roi_temperature": 0.1},
                  "session-1 settings, dev 0.537"),
        Candidate("roi-0.1", {"roi_temperature": 0.1}, "key temperature only, dev 0.581"),
        Candidate("topk-10", {"topk": 10}, "dev 0.622"),
        Candidate("short-5321", {"short_term": [5, 3, 2, 1]}, "dev 0.624"),
        Candidate("scale-0.375", {"scale": 0.375}, "dev 0.581"),
        Candidate("hard-memory", {"hard_memory": True}, "dev 0.618"),
        Candidate("key-7", {"search": {"roi_window": 13, "key_window": 7}}, "dev 0.617"),
    ],
    "copy": [Candidate("default", {}, "no settings")],
    # docs/experiments/fusion.md: every candidate names all four fusion switches, so the
    # cells do not depend on FusionConfig's defaults; the late-fusion ones (feedback false)
    # are scored offline from stored sub-tracker probabilities by bench/fusion_cv.py late
    "fusion": FUSION_CANDIDATES,
}

_MISSING = object()

#: the lost-object search of classic's defaults before session 11
_OLD_REACQUIRE = {"reacquire_model": "tracking", "reacquire_restart": False,
                  "band_motion_gain": 2.0}

#: Defaults each candidate set is a switch away from, by label: config overrides that turn
#: today's code defaults into them.  ``classic``'s defaults changed in commit 19733f2
#: (samples_per_class 3000 -> 1500, interior_stride 1 -> 2; max_work_pixels, added the same
#: day, does not change 480p): "2026-11-25" are the defaults of the leaderboard row of that
#: date.  A cell is keyed by its base label, so a change of the defaults needs a new label.
BASES: dict[str, dict[str, dict]] = {
    # session 10 (issue 21): band_stride 1 -> 2 and fit_defer 0 -> 1 (speed; CV 0.677 -> 0.687)
    # session 11 (issue 21): skip_agreement 0 -> 0.97 (speed; bench/skip_cv.py)
    # session 11 (issue 23, branch acc-classic): reacquire_model tracking ->
    # anchor-after-collapse and reacquire_restart false -> true (libby 0.391 -> 0.551)
    # session 11: band_motion_gain 2 -> 3 (the CV's choice around s11-skip-reacquire, 10 folds)
    # session 12 (issue 21): flow_check_photometric 0 -> 10 and flow_check_confirm 1 -> 0.3
    # (the CV's choice around s11-gain3, photo-10 in 7 of 10 folds; confirm: same cells)
    # session 13 (issues 21, 23): boost_library sklearn -> xgboost, boost_min_leaf 20 -> 1
    # (the CV's choice around s12-photo, xgb-leaf1 in 6 of 10 folds)
    # session 13: recent_frames 4 -> 2 (the CV's choice around s13-xgb, 7 of 10 folds);
    # then reacquire_far_probability 0.85 -> 0.9 (look-away benchmark; DAVIS dev identical)
    # and reacquire_min_similarity 0.5 -> 0.7 (look-away benchmark; DAVIS dev identical)
    "classic": {"s13-sim0.7": {},
                "s13-far0.9": {},
                "s13-recent2": {},
                "s13-xgb": {"recent_frames": 4},
                "s12-photo": {},
                "s11-gain3": {},
                "s11-skip-reacquire": {"band_motion_gain": 2.0},
                "skip-0.97-2": _OLD_REACQUIRE,
                "s11-reacquire": {"skip_agreement": 0.0, "band_motion_gain": 2.0},
                # noise check of the session-11 CV choice: sampling/boosting seed 1
                "s11-reacquire-seed1": {"seed": 1, "skip_agreement": 0.0,
                                        "band_motion_gain": 2.0},
                "fast-band2-defer1": {"skip_agreement": 0.0, **_OLD_REACQUIRE},
                # session 11 noise check of its candidates: sampling/boosting seed 1
                "fast-band2-defer1-seed1": {"seed": 1, "skip_agreement": 0.0,
                                            **_OLD_REACQUIRE},
                "19733f2": {"band_stride": 1, "fit_defer": 0, "skip_agreement": 0.0,
                            **_OLD_REACQUIRE},
                # noise check: sampling/boosting seed 1
                "19733f2-seed1": {"seed": 1, "band_stride": 1, "fit_defer": 0,
                                  "skip_agreement": 0.0, **_OLD_REACQUIRE},
                "2026-11-25": {"samples_per_class": 3000, "interior_stride": 1,
                               "max_work_pixels": 0, "band_stride": 1, "fit_defer": 0,
                               "skip_agreement": 0.0, **_OLD_REACQUIRE}},
    "flow": {"shipped": {}}, "mast": {"shipped": {}}, "copy": {"shipped": {}},
    "fusion": {"shipped": {}},
}
#: classic's defaults changed since session 12, oldest first: (the first base with the new
#: default, the overrides that restore the old one); every older base gets them
_LATER_CHANGES = [
    ("s12-photo", {"flow_check_photometric": 0.0, "flow_check_confirm": 1.0}),
    ("s13-xgb", _SKLEARN_BOOST),
    ("s13-recent2", {"recent_frames": 4}),
    ("s13-far0.9", {"reacquire_far_probability": 0.85}),
    ("s13-sim0.7", {"reacquire_min_similarity": 0.5}),
]
_LABELS = list(BASES["classic"])      # newest first
for _first, _restore in _LATER_CHANGES:
    for _label in _LABELS[_LABELS.index(_first) + 1:]:
        BASES["classic"][_label].update({**_restore, **BASES["classic"][_label]})

#: the base of cells written before bases were recorded (all run before commit 19733f2)
LEGACY_BASE = {"classic": "2026-11-25"}

#: ranet: held-out J&F of the k-fold models (2 folds x 5 adaptation seeds, session 7).
RANET_KFOLD = 0.679


def current_base(tracker: str) -> str:
    """The label of today's code defaults (the base without overrides)."""
    return next(k for k, v in BASES[tracker].items() if not v)


def _code_defaults(tracker: str) -> dict[str, Any]:
    """The flat default settings of a tracker's config class (empty when it has none)."""
    import dataclasses

    from gazevos.track.registry import tracker_class

    cls = getattr(tracker_class(tracker), "config_cls", None)
    if cls is None or not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}


def candidates_for(tracker: str, base: str) -> list[Candidate]:
    """The candidate set around ``base``: for classic's defaults since 19733f2, the
    2026-11-25 set with ``interior-2`` (now the default) replaced by the two values it
    changed from."""
    cands = CANDIDATES[tracker]
    if tracker == "classic":
        # a switch to what the base already sets is the default again: left out
        current = {**_code_defaults(tracker), **BASES[tracker].get(base, {})}
        cands = [c for c in cands if c.name == "default"
                 or any(current.get(k, _MISSING) != v for k, v in c.settings.items())]
    if tracker == "classic" and base != "2026-11-25":
        cands = [c for c in cands if c.name != "interior-2"]
        cands[8:8] = [Candidate("interior-1", {"interior_stride": 1}, "default until 19733f2"),
                      Candidate("samples-3000", {"samples_per_class": 3000},
                                "default until 19733f2")]
    return cands


def cell_key(tracker: str, base: str, settings: dict, sequence: str) -> str:
    return json.dumps([tracker, base, settings, sequence], sort_keys=True)


def read_cache(path: Path) -> dict[str, dict]:
    """Cells of the cache by key (a later line for the same key wins)."""
    cells: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                t = rec["tracker"]
                base = rec.get("base") or LEGACY_BASE.get(t) or current_base(t)
                cells[cell_key(t, base, rec["settings"], rec["sequence"])] = rec
    return cells


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src/gazevos/track"], cwd=REPO,
                               text=True, capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty-track" if dirty else "")


def scores_of(row: Any) -> dict[str, float]:
    """``jf``, ``j`` and ``f`` of one scored sequence (a ``per_sequence()`` table row)."""
    return {key: round(float(row[col][0]), 6)
            for key, col in (("jf", "J&F-Mean"), ("j", "J-Mean"), ("f", "F-Mean"))}


def append_cell(cache: Path, rec: dict) -> dict:
    """Append one scored cell to the cache as a JSON line, stamped with the load and the
    time; returns the stamped record."""
    rec = {**rec, "load": round(os.getloadavg()[0], 1),
           "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")}
    with cache.open("a") as fh:
        fh.write(json.dumps(rec) + "\n")
    return rec


def track_and_score(trk: Any, root: str, seq: str) -> tuple[Any, int, float, float]:
    """Track DAVIS sequence ``seq`` from its first mask and score it: the ``per_sequence()``
    table row, frames, wall seconds and ``Tracker.step`` seconds."""
    from gazevos.eval.davis import evaluate_sequence, summarise
    from gazevos.eval.runner import check_sequence, track_sequence

    source, mask_path = check_sequence(root, seq)
    with tempfile.TemporaryDirectory(prefix="cv-") as tmp:
        out = Path(tmp) / seq
        out.mkdir()
        t0 = time.perf_counter()
        frames, step_s = track_sequence(trk, source, mask_path, out)
        seconds = time.perf_counter() - t0
        row = summarise([evaluate_sequence(root, tmp, seq)]).per_sequence()
    return row, frames, seconds, step_s


def run(args: argparse.Namespace) -> int:
    """Track and score every missing (tracker, candidate, sequence) cell."""
    import cv2

    from gazevos.eval.davis import resolve_sequences
    from gazevos.track import build_tracker

    cv2.setNumThreads(args.threads)
    names = resolve_sequences(args.root, args.sequences or None)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    commits: dict[str, str] = {}
    for tracker in args.trackers:
        base = args.base if args.base in BASES[tracker] else current_base(tracker)
        for cand in candidates_for(tracker, base):
            if args.candidates and cand.name not in args.candidates:
                continue
            if cand.offline:
                continue  # its cells come from bench/fusion_cv.py late
            cache = read_cache(args.cache)
            todo = [s for s in names
                    if cell_key(tracker, base, cand.settings, s) not in cache]
            if not todo:
                continue
            # HEAD when this tracker's modules are imported (its first build in this process)
            commit = commits.setdefault(tracker, _commit())
            trk = build_tracker(tracker, **{**BASES[tracker][base], **cand.settings})
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(args.threads)
            for seq in todo:
                row, frames, seconds, step_s = track_and_score(trk, args.root, seq)
                rec = append_cell(args.cache, {
                    "tracker": tracker, "base": base, "candidate": cand.name,
                    "settings": cand.settings, "sequence": seq, **scores_of(row),
                    "frames": frames, "seconds": round(seconds, 2),
                    "step_seconds": round(step_s, 2), "threads": args.threads,
                    "commit": commit})
                print(f"{tracker:8s} {cand.name:16s} {seq:16s} J&F {rec['jf']:.3f} "
                      f"({frames} frames, {seconds:.0f} s)", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "report"):
        p = sub.add_parser(name)
        p.add_argument("--trackers", nargs="+", default=list(CANDIDATES),
                       choices=list(CANDIDATES))
        p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="DAVIS folder")
        p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
        p.add_argument("--sequences", nargs="+", default=None,
                       help="default: ImageSets/dev.txt")
    r = sub.choices["run"]
    r.add_argument("--candidates", nargs="+", default=None, help="only these names")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--base", default=None,
                   help="classic: the defaults the candidates switch from, a label of BASES "
                        "(default: today's code defaults)")
    rep = sub.choices["report"]
    rep.add_argument("--kfold-seeds", type=int, default=10, help="5-fold shuffles 0..N-1")
    rep.add_argument("--leaderboard-base", default=None,
                     help="classic: the base whose CV goes to the leaderboard (default: today's)")
    rep.add_argument("--write-docs", action="store_true")
    rep.add_argument("--update-benchmarks", action="store_true")
    args = ap.parse_args()
    if not (args.root / "JPEGImages").is_dir():
        print(f"skipped: no DAVIS data at {args.root} (pass --root)")
        return 0
    if args.cmd == "run":
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(args.threads)
        return run(args)
    from _cv_report import report

    return report(args)


if __name__ == "__main__":
    sys.exit(main())
