"""Study tables: every recording's AOI tables merged, group statistics, validation.

Written to ``OUT/tables/`` (CSV + Parquet), tidy and long:

* ``recordings``: id, participant, study columns, status, error, folder;
* ``study_aoi_metrics``: recording, participant, study columns, object, mode, metric, value
  (the metrics of :func:`gazevos.gaze.aoi.object_metrics`, plus the entropies as object
  ``(all)``);
* ``study_visits``, ``study_transitions``: the per-recording tables with the same keys;
* ``group_metrics``: per ``group_by`` columns x object x mode x metric: ``n`` (recordings with
  a value: NaN, e.g. the time to first fixation of a never-fixated object, is left out),
  ``mean``, ``sd`` (n - 1), ``median``;
* ``group_reach``: per group x object x mode: participants, participants who fixated the
  object at least once (in any of their recordings of the group), and reach = their share.

With manual codings (``manual:`` in the study file), ``OUT/validation/`` holds
``agreement_by_recording`` (kappa, alpha, ... per recording), and the pooled
``agreement``, ``confusion`` and ``agreement_per_object`` over all coded recordings' items.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gazevos.gaze.metrics import write_tables

if TYPE_CHECKING:
    from gazevos.study.runner import StudyResult
    from gazevos.study.schema import Study, StudyRecording


def _keys(rec: StudyRecording, columns: tuple[str, ...]) -> dict[str, str]:
    return {"recording": rec.id, "participant": rec.participant,
            **{c: rec.column(c) for c in columns}}


def _with_keys(df: pd.DataFrame, keys: dict[str, str]) -> pd.DataFrame:
    out = df.copy()
    for k, (name, value) in enumerate(keys.items()):
        out.insert(k, name, value)
    return out


def collect(study: Study, result: StudyResult) -> dict[str, pd.DataFrame]:
    """The merged per-recording tables of the recordings whose outputs are complete."""
    from gazevos.gaze.aoi_tables import read_table
    from gazevos.study.tasks import read_manifest

    parts: dict[str, list[pd.DataFrame]] = {"study_aoi_metrics": [], "study_visits": [],
                                            "study_transitions": []}
    rows = []
    for rec in study.recordings:
        keys = _keys(rec, study.columns)
        folder = study.out / "aoi" / rec.id
        status = result.status.get(rec.id, "failed")
        ok = status != "failed" and read_manifest(folder) is not None
        rows.append({**keys, "status": status, "error": result.errors.get(rec.id, ""),
                     "folder": f"recordings/{rec.id}" if ok else ""})
        if not ok:
            continue
        m = read_table(folder, "aoi_metrics")
        ent = read_table(folder, "entropy")
        ent = pd.DataFrame({"object_id": -1, "object": "(all)", "mode": "tolerant",
                            "metric": ent["metric"], "value": ent["value"]})
        parts["study_aoi_metrics"].append(_with_keys(pd.concat([m, ent], ignore_index=True),
                                                     keys))
        parts["study_visits"].append(_with_keys(read_table(folder, "visits"), keys))
        parts["study_transitions"].append(_with_keys(read_table(folder, "aoi_transitions"),
                                                     keys))
    tables = {"recordings": pd.DataFrame(rows)}
    for name, dfs in parts.items():
        tables[name] = pd.concat(dfs, ignore_index=True) if dfs else pd.DataFrame()
    return tables


def group_metrics(metrics: pd.DataFrame, group_by: tuple[str, ...] | list[str]
                  ) -> pd.DataFrame:
    """n, mean, sd and median of each metric per group x object x mode (module docstring)."""
    keys = [*group_by, "object", "mode", "metric"]
    if metrics.empty:
        return pd.DataFrame(columns=[*keys, "n", "mean", "sd", "median"])
    g = metrics.groupby(keys, sort=True, dropna=False)["value"]
    out = g.agg(n="count", mean="mean", sd="std", median="median").reset_index()
    out["n"] = out["n"].astype(np.int64)
    return out


def group_reach(metrics: pd.DataFrame, group_by: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Share of a group's participants who fixated each object at least once."""
    keys = [*group_by, "object", "mode"]
    if metrics.empty:
        return pd.DataFrame(columns=[*keys, "participants", "fixated", "reach"])
    m = metrics[(metrics["metric"] == "n_fixations") & (metrics["object"] != "(all)")]
    per = m.groupby([*keys, "participant"], sort=True)["value"].max().reset_index()
    per["fixated"] = per["value"] > 0
    out = per.groupby(keys, sort=True).agg(participants=("participant", "nunique"),
                                            fixated=("fixated", "sum")).reset_index()
    out["fixated"] = out["fixated"].astype(np.int64)
    out["reach"] = out["fixated"] / out["participants"]
    return out


def study_validation(study: Study, result: StudyResult) -> dict[str, pd.DataFrame]:
    """Agreement with the manual codings of the study's recordings (module docstring)."""
    from gazevos.errors import GazevosError
    from gazevos.gaze.validation import agreement_from_items, validate_results

    v = study.validation
    rows, items = [], []
    for rec in study.recordings:
        if rec.manual is None or result.status.get(rec.id) == "failed":
            continue
        folder = study.out / "recordings" / rec.id
        try:
            a = validate_results(folder, rec.manual, v.unit, v.mode, dict(v.name_map))
        except GazevosError as exc:
            result.errors[rec.id] = f"validation: {exc}"
            continue
        rows.append({**_keys(rec, study.columns),
                     **a.summary.set_index("metric")["value"].to_dict()})
        it = a.items.copy()
        it.insert(0, "recording", rec.id)
        items.append(it)
    if not rows:
        return {}
    pooled = agreement_from_items(pd.concat(items, ignore_index=True).drop(columns="recording"),
                                  int(sum(r["n_left_out"] for r in rows)))
    return {"agreement_by_recording": pd.DataFrame(rows), "agreement": pooled.summary,
            "confusion": pooled.confusion, "agreement_per_object": pooled.per_object}


def write_study_outputs(study: Study, result: StudyResult) -> dict[str, pd.DataFrame]:
    """Merge, group, validate; write the tables and the report (module docstring)."""
    from gazevos.study.report import write_study_report

    tables = collect(study, result)
    validation = study_validation(study, result)
    rec = tables["recordings"]
    rec["error"] = [result.errors.get(r, e) for r, e in zip(rec["recording"], rec["error"],
                                                             strict=True)]
    tables["group_metrics"] = group_metrics(tables["study_aoi_metrics"], study.group_by)
    tables["group_reach"] = group_reach(tables["study_aoi_metrics"], study.group_by)
    tdir = Path(study.out) / "tables"
    tdir.mkdir(parents=True, exist_ok=True)
    write_tables(tdir, {k: v for k, v in tables.items() if not v.empty})
    if validation:
        vdir = Path(study.out) / "validation"
        vdir.mkdir(parents=True, exist_ok=True)
        write_tables(vdir, validation)
    write_study_report(study, result, tables, validation)
    return tables
