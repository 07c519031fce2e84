"""Agreement between gazevos' object per sample or fixation and a manual coding.

A **manual coding** is a CSV table in one of two forms:

* intervals: ``start,end,object`` -- seconds from the recording's start (its first video
  frame: the ``t`` column of ``gaze_samples.csv``); a sample at time ``t`` gets the object of
  the interval with ``start <= t < end`` (the first such row), else no object;
* fixation ids: ``fixation_id,object`` -- the ids of ``fixations.csv``.

An empty object, ``none``, ``background`` or ``-`` means no object.  ``name_map`` renames
the coding's objects to gazevos' names (``{"Cup": "mug"}``).

**Units.**  ``samples``: every valid, mapped gaze sample (``hit`` inside/near/none) is one
item; with an interval coding only.  ``fixations``: every fixation with usable samples;
with an interval coding, a fixation gets the coded object at its midpoint; with a fixation-id
coding, fixations absent from the coding are left out (counted as ``n_uncoded``).  gazevos'
object is the tolerant hit by default (``inside`` or ``near``; ``mode="strict"``: ``inside``
only, a ``near`` item then reads as no object).

**Figures.**  Cohen's kappa (:func:`sklearn.metrics.cohen_kappa_score`) and Krippendorff's
alpha for nominal data (the ``krippendorff`` package) over all items, no-object included as a
category; raw agreement; the confusion matrix (rows manual, columns gazevos); per object,
precision and recall of gazevos against the manual coding as truth; and the **bias** of dwell
time and visit counts (gazevos minus manual): dwell sums the duration of an object's items
(sample durations as in :func:`gazevos.gaze.metrics.sample_durations`, fixation durations),
visits count maximal runs of consecutive items on the object, the same rule on both sides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.gaze.metrics import sample_durations

#: The label of "no object" in the agreement tables.
NONE = "(none)"
_NONE_NAMES = {"", "none", "background", "-", "(none)", "(no object)", "nan"}
UNITS = ("samples", "fixations")


@dataclass
class Agreement:
    """The result of :func:`agreement`.

    Attributes:
        summary: ``metric, value`` (n, kappa, alpha, accuracy, ...).
        confusion: ``manual, gazevos, count`` (every pair, zeros included).
        per_object: object, precision, recall, n_manual, n_gazevos, dwell and visit figures.
        items: the items compared: ``time``/``fixation_id``, ``duration``, ``manual``,
            ``gazevos``.
    """

    summary: pd.DataFrame
    confusion: pd.DataFrame
    per_object: pd.DataFrame
    items: pd.DataFrame

    def value(self, metric: str) -> float:
        """One figure of :attr:`summary`."""
        return float(self.summary.set_index("metric").loc[metric, "value"])


def parse_name_map(spec: str | None) -> dict[str, str]:
    """``"Cup=mug,Book=book"`` -> ``{"Cup": "mug", "Book": "book"}``."""
    out: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        a, sep, b = part.partition("=")
        if not sep or not a.strip():
            raise GazevosError(f"bad name map entry '{part}' (expected MANUAL=GAZEVOS)")
        out[a.strip()] = b.strip()
    return out


def _label(name: object, name_map: Mapping[str, str]) -> str:
    s = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name).strip()
    s = name_map.get(s, s)
    return NONE if s.lower() in _NONE_NAMES else s


def read_coding(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a manual coding CSV (``start,end,object`` or ``fixation_id,object``)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"object": str}, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise GazevosError(f"cannot read the manual coding ({exc.__class__.__name__})",
                           path) from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "object" not in df.columns:
        raise GazevosError("manual coding has no 'object' column", path)
    if {"start", "end"} <= set(df.columns):
        s = pd.to_numeric(df["start"], errors="coerce")
        e = pd.to_numeric(df["end"], errors="coerce")
        if s.isna().any() or e.isna().any() or (e < s).any():
            raise GazevosError("manual coding has a non-numeric start/end or end < start", path)
        return pd.DataFrame({"start": s.astype(float), "end": e.astype(float),
                             "object": df["object"].astype(str)})
    if "fixation_id" in df.columns:
        fid = pd.to_numeric(df["fixation_id"], errors="coerce")
        if fid.isna().any():
            raise GazevosError("manual coding has a non-numeric fixation_id", path)
        if fid.duplicated().any():
            raise GazevosError("manual coding gives a fixation_id twice", path)
        return pd.DataFrame({"fixation_id": fid.astype(np.int64),
                             "object": df["object"].astype(str)})
    raise GazevosError("manual coding needs columns start,end,object or fixation_id,object",
                       path)


def _interval_labels(times: np.ndarray, coding: pd.DataFrame,
                     name_map: Mapping[str, str]) -> np.ndarray:
    out = np.full(len(times), NONE, dtype=object)
    done = np.zeros(len(times), dtype=bool)
    for a, b, o in coding[["start", "end", "object"]].itertuples(index=False):
        sel = ~done & (times >= a) & (times < b)
        out[sel] = _label(o, name_map)
        done |= sel
    return out


def _auto_labels(table: pd.DataFrame, mode: str) -> np.ndarray:
    if mode not in ("strict", "tolerant"):
        raise GazevosError(f"unknown mode '{mode}' (choose strict or tolerant)")
    hits = ("inside",) if mode == "strict" else ("inside", "near")
    on = table["hit"].isin(hits).to_numpy() & (table["object_id"].to_numpy() != 0)
    names = table["object"].to_numpy(object)
    return np.where(on, names, NONE).astype(object)


def coding_items(samples: pd.DataFrame, fixations: pd.DataFrame, coding: pd.DataFrame,
                 unit: str = "samples", mode: str = "tolerant",
                 name_map: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, int]:
    """The items compared and the number of coded-but-unusable or uncoded items left out.

    Args:
        samples: ``gaze_samples`` of an annotate run (``t``, ``time``, ``hit``,
            ``object_id``, ``object``).
        fixations: its ``fixations`` (``fixation_id``, ``start``, ``end``, ``hit``,
            ``object_id``, ``object``).
        coding: :func:`read_coding`.
        unit: ``samples`` or ``fixations``.
        mode: ``tolerant`` or ``strict``.
        name_map: manual name -> gazevos name.

    Returns:
        ``(items, n_left_out)``; items have ``key`` (sample time or fixation id),
        ``duration``, ``manual``, ``gazevos``.
    """
    nm = dict(name_map or {})
    if unit not in UNITS:
        raise GazevosError(f"unknown unit '{unit}' (choose samples or fixations)")
    intervals = "start" in coding.columns
    if unit == "samples":
        if not intervals:
            raise GazevosError("a fixation-id coding can only be compared per fixation "
                               "(use --unit fixations)")
        s = samples.sort_values("time", kind="stable")
        dur = sample_durations(s["time"].to_numpy(float))
        ok = s["hit"].isin(("inside", "near", "none")).to_numpy()
        t0 = float((s["time"] - s["t"]).iloc[0]) if len(s) else 0.0
        rel = s["time"].to_numpy(float) - t0
        items = pd.DataFrame({"key": rel, "duration": dur,
                              "manual": _interval_labels(rel, coding, nm),
                              "gazevos": _auto_labels(s, mode)})[ok]
        return items.reset_index(drop=True), int((~ok).sum())
    fx = fixations.sort_values("start", kind="stable")
    ok = (fx["hit"] != "invalid").to_numpy().copy()
    dur = (fx["end"] - fx["start"]).to_numpy(float)
    if intervals:
        t0 = float((samples["time"] - samples["t"]).iloc[0]) if len(samples) else 0.0
        mid = (fx["start"].to_numpy(float) + fx["end"].to_numpy(float)) / 2 - t0
        manual = _interval_labels(mid, coding, nm)
    else:
        coded = dict(zip(coding["fixation_id"], coding["object"], strict=True))
        ids = fx["fixation_id"].to_numpy(np.int64)
        ok &= np.isin(ids, list(coded))
        manual = np.array([_label(coded.get(int(i)), nm) for i in ids], dtype=object)
    items = pd.DataFrame({"key": fx["fixation_id"].to_numpy(), "duration": dur,
                          "manual": manual, "gazevos": _auto_labels(fx, mode)})[ok]
    return items.reset_index(drop=True), int((~ok).sum())


def _runs(labels: np.ndarray, name: str) -> int:
    on = labels == name
    return int(on[0] + np.sum(on[1:] & ~on[:-1])) if len(on) else 0


def agreement_from_items(items: pd.DataFrame, n_left_out: int = 0) -> Agreement:
    """Kappa, alpha, confusion, per-object precision/recall and biases of compared items."""
    import krippendorff
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    if len(items) == 0:
        raise GazevosError("no item to compare (no valid sample or coded fixation)")
    man = items["manual"].to_numpy(object).astype(str)
    aut = items["gazevos"].to_numpy(object).astype(str)
    labels = sorted(set(man) | set(aut), key=lambda s: (s != NONE, s))
    cm = confusion_matrix(man, aut, labels=labels)
    kappa = float(cohen_kappa_score(man, aut, labels=labels)) if len(labels) > 1 else 1.0
    code = {name: k for k, name in enumerate(labels)}
    data = np.array([[code[v] for v in man], [code[v] for v in aut]], dtype=float)
    alpha = (float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
             if len(labels) > 1 else 1.0)
    dur = items["duration"].to_numpy(float)
    rows = []
    for k, name in enumerate(labels):
        if name == NONE:
            continue
        tp, n_man, n_aut = int(cm[k, k]), int(cm[k].sum()), int(cm[:, k].sum())
        rows.append({
            "object": name, "n_manual": n_man, "n_gazevos": n_aut, "n_both": tp,
            "precision": tp / n_aut if n_aut else float("nan"),
            "recall": tp / n_man if n_man else float("nan"),
            "dwell_manual": float(dur[man == name].sum()),
            "dwell_gazevos": float(dur[aut == name].sum()),
            "visits_manual": _runs(man, name), "visits_gazevos": _runs(aut, name)})
    per = pd.DataFrame(rows, columns=["object", "n_manual", "n_gazevos", "n_both", "precision",
                                      "recall", "dwell_manual", "dwell_gazevos",
                                      "visits_manual", "visits_gazevos"])
    per["dwell_bias"] = per["dwell_gazevos"] - per["dwell_manual"]
    per["visits_bias"] = per["visits_gazevos"] - per["visits_manual"]
    confusion = pd.DataFrame([(labels[i], labels[j], int(cm[i, j]))
                              for i in range(len(labels)) for j in range(len(labels))],
                             columns=["manual", "gazevos", "count"])
    summary = pd.DataFrame({"metric": ["n_items", "n_left_out", "accuracy", "cohen_kappa",
                                       "krippendorff_alpha", "mean_dwell_bias",
                                       "mean_visits_bias"],
                            "value": [float(len(items)), float(n_left_out),
                                      float(np.mean(man == aut)), kappa, alpha,
                                      float(per["dwell_bias"].mean()) if len(per) else 0.0,
                                      float(per["visits_bias"].mean()) if len(per) else 0.0]})
    return Agreement(summary, confusion, per, items)


def agreement(samples: pd.DataFrame, fixations: pd.DataFrame, coding: pd.DataFrame,
              unit: str = "samples", mode: str = "tolerant",
              name_map: Mapping[str, str] | None = None) -> Agreement:
    """Agreement of one annotated recording with a manual coding (module docstring)."""
    items, left_out = coding_items(samples, fixations, coding, unit, mode, name_map)
    return agreement_from_items(items, left_out)


def validate_results(results: str | os.PathLike[str], coding_path: str | os.PathLike[str],
                     unit: str = "samples", mode: str = "tolerant",
                     name_map: Mapping[str, str] | None = None) -> Agreement:
    """:func:`agreement` for an ``annotate`` output folder and a coding CSV."""
    from gazevos.gaze.aoi_tables import object_names, read_summary, read_table

    coding = read_coding(coding_path)
    names = set(object_names(read_summary(results)).values())
    coded = {_label(o, name_map or {}) for o in coding["object"]} - {NONE}
    unknown = sorted(coded - names)
    if unknown:
        raise GazevosError(f"manual coding names object '{unknown[0]}' that gazevos did not "
                           f"track (tracked: {', '.join(sorted(names))}; use --name-map)",
                           coding_path)
    samples = read_table(results, "gaze_samples")
    fixations = read_table(results, "fixations")
    return agreement(samples, fixations, coding, unit, mode, name_map)


def write_agreement(result: Agreement, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``agreement``, ``confusion``, ``agreement_per_object`` and ``agreement_items``."""
    from gazevos.gaze.metrics import write_tables

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_tables(out, {"agreement": result.summary, "confusion": result.confusion,
                              "agreement_per_object": result.per_object,
                              "agreement_items": result.items})
