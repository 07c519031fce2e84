"""The study report: one self-contained HTML page (opens offline, no CDN).

Plots are matplotlib PNGs embedded as base64: distributions of the main metrics per object
(one colour per group), per-recording timelines of the fixation visits, and transition
diagrams (pooled transition probabilities per group, as matrices).  Tables: the recordings
(status, link to each recording's own ``report.html``), group statistics, reach and the
agreement with manual coding.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gazevos.io.atomic import atomic_write

if TYPE_CHECKING:
    from gazevos.study.runner import StudyResult
    from gazevos.study.schema import Study

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;
max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
.failed{color:#a00}.note{color:#555;font-size:.9em}
"""
#: metrics shown as distributions (tolerant mode)
PLOTTED = (("dwell_share", "dwell share of visible time"),
           ("time_to_first_fixation_visible", "time to first fixation from first visible, s"),
           ("n_visits", "visits"))


def _png(fig) -> str:  # noqa: ANN001 - a matplotlib Figure
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return (f'<img alt="plot" src="data:image/png;base64,'
            f'{base64.b64encode(buf.getvalue()).decode()}">')


def _group_label(df: pd.DataFrame, group_by: tuple[str, ...]) -> pd.Series:
    if not group_by:
        return pd.Series("all", index=df.index)
    return df[list(group_by)].astype(str).agg(" / ".join, axis=1)


def distributions(metrics: pd.DataFrame, group_by: tuple[str, ...]) -> str:
    """Strip plots of :data:`PLOTTED` per object, one colour per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = metrics[(metrics["mode"] == "tolerant") & (metrics["object"] != "(all)")].copy()
    if m.empty:
        return '<p class="note">no recording finished</p>'
    m["group"] = _group_label(m, group_by)
    objects = sorted(m["object"].unique())
    groups = sorted(m["group"].unique())
    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4.2 * len(PLOTTED), 3.2))
    cmap = plt.get_cmap("tab10")
    width = 0.8 / max(len(groups), 1)
    for ax, (metric, label) in zip(np.atleast_1d(axes), PLOTTED, strict=True):
        d = m[m["metric"] == metric]
        for gi, g in enumerate(groups):
            for oi, obj in enumerate(objects):
                v = d[(d["group"] == g) & (d["object"] == obj)]["value"].dropna().to_numpy()
                x = oi - 0.4 + width * (gi + 0.5)
                ax.scatter(np.full(len(v), x), v, s=14, color=cmap(gi % 10), alpha=0.8,
                           label=g if oi == 0 else None)
                if len(v):
                    ax.hlines(np.median(v), x - width / 2, x + width / 2, color="k", lw=1)
        ax.set_xticks(range(len(objects)), objects, rotation=30)
        ax.set_title(label, fontsize=9)
    if len(groups) > 1:
        np.atleast_1d(axes)[0].legend(fontsize=7)
    return _png(fig)


def timelines(visits: pd.DataFrame) -> str:
    """Fixation visits (tolerant) of every recording, in s from its first video frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if visits.empty:
        return '<p class="note">no visits</p>'
    v = visits[(visits["unit"] == "fixations") & (visits["mode"] == "tolerant")]
    recs = list(dict.fromkeys(visits["recording"]))
    objects = sorted(v["object"].unique())
    color = {o: plt.get_cmap("tab10")(k % 10) for k, o in enumerate(objects)}
    fig, ax = plt.subplots(figsize=(11, 0.35 * len(recs) + 1.2))
    for y, rid in enumerate(recs):
        r = v[v["recording"] == rid]
        for obj, g in r.groupby("object"):
            ax.broken_barh(list(zip(g["start_s"], g["duration"], strict=True)),
                           (y - 0.35, 0.7), color=color[obj], label=obj)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    if uniq:
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper right", ncol=len(uniq))
    ax.set_yticks(range(len(recs)), recs)
    ax.set_xlabel("s from the recording's start")
    ax.invert_yaxis()
    return _png(fig)


def transition_diagrams(trans: pd.DataFrame, group_by: tuple[str, ...]) -> str:
    """Pooled transition probabilities per group, as annotated matrices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if trans.empty:
        return '<p class="note">no transitions</p>'
    t = trans.copy()
    t["group"] = _group_label(t, group_by)
    groups = sorted(t["group"].unique())
    names = sorted(set(t["from_name"]) | set(t["to_name"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.4 * len(groups), 3.8), squeeze=False,
                             layout="constrained")
    for k, (ax, g) in enumerate(zip(axes[0], groups, strict=True)):
        c = t[t["group"] == g].groupby(["from_name", "to_name"])["count"].sum().unstack()
        c = c.reindex(index=names, columns=names).fillna(0)
        p = c.div(c.sum(axis=1).replace(0, np.nan), axis=0).fillna(0).to_numpy()
        ax.imshow(p, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(names)):
            for j in range(len(names)):
                if p[i, j] > 0:
                    ax.text(j, i, f"{p[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if p[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(names)), names, rotation=45, fontsize=7)
        ax.set_yticks(range(len(names)), names if k == 0 else [], fontsize=7)
        ax.set_xlabel("to")
        if k == 0:
            ax.set_ylabel("from")
        ax.set_title(g, fontsize=9)
    return _png(fig)


def _table(df: pd.DataFrame, escape: bool = True) -> str:
    return df.to_html(index=False, escape=escape, float_format=lambda v: f"{v:.3f}",
                      border=0, na_rep="")


def render_study_report(study: Study, result: StudyResult, tables: dict[str, pd.DataFrame],
                        validation: dict[str, pd.DataFrame]) -> str:
    """The report's HTML (module docstring)."""
    rec = tables["recordings"].copy()
    rec["report"] = [f'<a href="{html.escape(f)}/report.html">report</a>' if f else ""
                     for f in rec["folder"]]
    rec["status"] = [f'<span class="failed">{s}</span>' if s == "failed" else s
                     for s in rec["status"]]
    for col in [c for c in rec.columns if c not in ("report", "status")]:
        rec[col] = rec[col].astype(str).map(html.escape)
    rec = rec.drop(columns="folder")
    parts = [f"<h1>Study: {html.escape(study.name)}</h1>",
             f'<p class="note">{len(study.recordings)} recordings; {result.n_done} annotated '
             f"by this run, {result.n_skipped} unchanged, {len(result.errors)} with errors. "
             f"Tracker {html.escape(study.settings.tracker)}; tables in "
             f"<code>tables/</code> (CSV + Parquet).</p>",
             "<h2>Recordings</h2>", _table(rec, escape=False)]
    gm = tables["group_metrics"]
    metrics = tables["study_aoi_metrics"]
    if not gm.empty:
        show = gm[(gm["mode"] == "tolerant") & gm["metric"].isin(
            ["dwell_share", "fixation_dwell_time", "time_to_first_fixation",
             "time_to_first_fixation_visible", "n_visits", "n_revisits",
             "stationary_entropy", "transition_entropy"])]
        parts += ["<h2>Group statistics (tolerant hits)</h2>",
                  '<p class="note">n: recordings with a value; sd with n - 1. All metrics, '
                  "strict and tolerant: <code>tables/group_metrics.csv</code>.</p>",
                  _table(show), "<h2>Reach</h2>",
                  '<p class="note">share of participants who fixated the object at least '
                  "once.</p>", _table(tables["group_reach"])]
        parts += ["<h2>Distributions per object</h2>", distributions(metrics, study.group_by),
                  "<h2>Timelines (fixation visits)</h2>", timelines(tables["study_visits"]),
                  "<h2>Transition diagrams</h2>",
                  '<p class="note">pooled probability of the next fixation\'s object given '
                  "the current one, per group.</p>",
                  transition_diagrams(tables["study_transitions"], study.group_by)]
    if validation:
        parts += [f"<h2>Agreement with manual coding ({study.validation.unit}, "
                  f"{study.validation.mode})</h2>", "<h3>Pooled</h3>",
                  _table(validation["agreement"]), _table(validation["agreement_per_object"]),
                  "<h3>Per recording</h3>", _table(validation["agreement_by_recording"])]
    body = "\n".join(parts)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(study.name)}</title><style>{_CSS}</style></head><body>{body}"
            "</body></html>")


def write_study_report(study: Study, result: StudyResult, tables: dict[str, pd.DataFrame],
                       validation: dict[str, pd.DataFrame]) -> None:
    """Write ``OUT/report.html`` atomically."""
    page = render_study_report(study, result, tables, validation)
    with atomic_write(result.report) as tmp:
        tmp.write_text(page, encoding="utf-8")
