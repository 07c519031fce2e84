"""A self-contained HTML report of one annotated recording.

The page opens offline: CSS is inline, the timeline is inline SVG, frame pictures are
base64 JPEGs, and links point only at files beside the report (relative paths).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gazevos.io.atomic import atomic_write
from gazevos.io.masks import DAVIS_PALETTE

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.swatch{display:inline-block;width:.9em;height:.9em;border:1px solid #888;
vertical-align:middle;margin-right:.3em}
.frames{display:flex;flex-wrap:wrap;gap:8px}.frames figure{margin:0}
.frames img{width:520px;max-width:100%;border:1px solid #ccc}.wide{overflow-x:auto}
.frames figcaption{font-size:.8em;color:#555}
.note{color:#555;font-size:.9em}svg text{font-family:system-ui,sans-serif}
.warning{background:#fff4e5;border:1px solid #f0a030;border-left:6px solid #e07b00;
padding:.5em .8em;margin:.6em 0;color:#5a3200}
"""


@dataclass
class ReportData:
    """Everything the report shows.

    Attributes:
        title: page heading.
        summary: (label, value) rows of the summary table.
        objects: ``{object_id: name}``.
        duration: recording length in seconds (timeline width).
        sample_time: ``(N,)`` gaze-sample times, s from the first video frame.
        sample_object: ``(N,)`` object id each sample is on (0: none; -1: invalid sample).
        sample_hit: ``(N,)`` ``"inside"`` / ``"near"`` / ``"none"`` / other (invalid).
        fixations: rows of ``(start s, end s, object_id)`` (times from the first frame).
        metrics: the per-object metrics table.
        transitions: object-to-object transition counts (rows from, columns to), or None.
        images: ``(caption, JPEG bytes)`` pictures (overlay frames).
        files: output files to link, relative to the report's folder.
        notes: extra sentences shown under the summary.
        warnings: doubts about the results (e.g. few usable gaze samples), shown first,
            right under the title.
    """

    title: str
    summary: list[tuple[str, str]]
    objects: dict[int, str]
    duration: float
    sample_time: np.ndarray
    sample_object: np.ndarray
    sample_hit: np.ndarray
    fixations: list[tuple[float, float, int]] = field(default_factory=list)
    metrics: pd.DataFrame | None = None
    transitions: pd.DataFrame | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _hex(object_id: int) -> str:
    r, g, b = (int(v) for v in DAVIS_PALETTE[object_id])
    return f"#{r:02x}{g:02x}{b:02x}"


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges of equal consecutive values of a 1-D array."""
    if len(values) == 0:
        return []
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(values)]])
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def timeline_svg(data: ReportData, width: int = 1000) -> str:
    """Inline SVG: one lane per object showing when gaze (samples) and fixations were on it.

    Each object lane has the samples on it (solid: inside the mask, pale: within the
    tolerance) and, beneath, the fixations assigned to it.  A last lane shows samples on
    no object and invalid samples (grey).
    """
    left, right, lane_h, gap, top = 110, 10, 26, 6, 8
    ids = sorted(data.objects)
    lanes = [*ids, 0]
    height = top + len(lanes) * (lane_h + gap) + 30
    span = max(data.duration, 1e-6)
    plot_w = width - left - right

    def x_of(t: float) -> float:
        return left + plot_w * min(max(t / span, 0.0), 1.0)

    parts = [f'<svg viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="timeline of the looked-at object">']
    lane_y = {oid: top + k * (lane_h + gap) for k, oid in enumerate(lanes)}
    for oid in lanes:
        y = lane_y[oid]
        name = data.objects.get(oid, "no object")
        parts.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{lane_h}" '
                     f'fill="#f6f6f6"/>')
        parts.append(f'<text x="{left - 6}" y="{y + lane_h * 0.65:.1f}" font-size="12" '
                     f'text-anchor="end">{html.escape(name)}</text>')
    t = np.asarray(data.sample_time, dtype=float)
    obj = np.asarray(data.sample_object)
    hit = np.asarray(data.sample_hit).astype(str)
    if len(t):
        dt = np.diff(t)
        step = float(np.median(dt)) if len(dt) else 1.0 / 30
        ends = np.concatenate([t[1:], [t[-1] + step]])
        ends = np.minimum(ends, t + 3 * step)  # do not bridge gaps in the data
        key = obj * 4 + np.where(hit == "inside", 1, np.where(hit == "near", 2, 3))
        for a, b in _runs(key):
            oid = int(obj[a])
            lane = oid if oid in lane_y else 0
            y = lane_y[lane] + 2
            x0, x1 = x_of(float(t[a])), x_of(float(ends[b - 1]))
            if oid > 0:
                colour = _hex(oid)
                opacity = "1" if hit[a] == "inside" else "0.45"
            else:
                colour, opacity = ("#9a9a9a", "1") if oid < 0 else ("#4a4a4a", "0.6")
            parts.append(f'<rect x="{x0:.2f}" y="{y}" width="{max(x1 - x0, 0.5):.2f}" '
                         f'height="{lane_h // 2 - 2}" fill="{colour}" fill-opacity="{opacity}"/>')
    for start, end, oid in data.fixations:
        lane = oid if oid in lane_y else 0
        y = lane_y[lane] + lane_h // 2 + 1
        colour = _hex(oid) if oid > 0 else "#4a4a4a"
        x0, x1 = x_of(start), x_of(end)
        parts.append(f'<rect x="{x0:.2f}" y="{y}" width="{max(x1 - x0, 1):.2f}" '
                     f'height="{lane_h // 2 - 3}" fill="{colour}" stroke="#000" '
                     f'stroke-width="0.6"/>')
    axis_y = top + len(lanes) * (lane_h + gap) + 4
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" '
                 f'stroke="#666"/>')
    tick = next(s for s in (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1e9) if span / s <= 12)
    for k in range(int(span // tick) + 1):
        tx = x_of(k * tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{axis_y}" x2="{tx:.1f}" y2="{axis_y + 5}" '
                     f'stroke="#666"/><text x="{tx:.1f}" y="{axis_y + 18}" font-size="11" '
                     f'text-anchor="middle">{k * tick:g} s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(df: pd.DataFrame, index: bool = False) -> str:
    """An HTML table of a DataFrame with numbers right-aligned and floats rounded."""
    cols = list(df.columns)
    head = "".join(f'<th class="l">{html.escape(str(df.index.name or ""))}</th>'
                   for _ in [0] if index)
    head += "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    rows = []
    for idx, row in df.iterrows():
        cells = f'<td class="l">{html.escape(str(idx))}</td>' if index else ""
        for c in cols:
            v = row[c]
            if isinstance(v, float | np.floating):
                text = "" if not np.isfinite(v) else f"{v:.3f}".rstrip("0").rstrip(".")
                cells += f"<td>{text}</td>"
            elif isinstance(v, int | np.integer):
                cells += f"<td>{int(v)}</td>"
            else:
                cells += f'<td class="l">{html.escape(str(v))}</td>'
        rows.append(f"<tr>{cells}</tr>")
    return f"<div class=\"wide\"><table><tr>{head}</tr>{''.join(rows)}</table></div>"


def render_report(data: ReportData) -> str:
    """The report as one HTML string (no external resources)."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(data.title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{e(data.title)}</h1>"]
    out += [f'<p class="warning"><strong>Warning:</strong> {e(w)}</p>' for w in data.warnings]
    out.append("<h2>Summary</h2><table>")
    for label, value in data.summary:
        out.append(f'<tr><th class="l">{e(label)}</th><td class="l">{e(value)}</td></tr>')
    out.append("</table>")
    out += [f'<p class="note">{e(n)}</p>' for n in data.notes]
    legend = " ".join(f'<span class="swatch" style="background:{_hex(i)}"></span>{e(n)}'
                      for i, n in sorted(data.objects.items()))
    out += ["<h2>Looked-at object over time</h2>",
            f"<p class=\"note\">{legend}. Top half of each lane: gaze samples (solid: inside "
            "the mask, pale: within the tolerance); bottom half: fixations. Last lane: "
            "samples on no object (dark) or invalid (light grey).</p>", timeline_svg(data)]
    if data.metrics is not None and len(data.metrics):
        out += ["<h2>Metrics per object</h2>", _table(data.metrics)]
    if data.transitions is not None and len(data.transitions):
        out += ["<h2>Transitions between objects</h2>",
                '<p class="note">Rows: from; columns: to (fixation to next fixation).</p>',
                _table(data.transitions, index=True)]
    if data.images:
        out.append('<h2>Overlay frames</h2><div class="frames">')
        for caption, jpeg in data.images:
            b64 = base64.b64encode(jpeg).decode("ascii")
            out.append(f'<figure><img alt="{e(caption)}" src="data:image/jpeg;base64,{b64}">'
                       f"<figcaption>{e(caption)}</figcaption></figure>")
        out.append("</div>")
    if data.files:
        out.append("<h2>Files</h2><ul>")
        out += [f'<li><a href="{e(f)}">{e(f)}</a></li>' for f in data.files]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(path: str | os.PathLike[str], data: ReportData) -> Path:
    """Write :func:`render_report` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(render_report(data), encoding="utf-8")
    return path


def jpeg_bytes(rgb: np.ndarray, max_width: int = 640, quality: int = 80) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 RGB image as JPEG, shrunk to ``max_width`` if wider."""
    import cv2

    h, w = rgb.shape[:2]
    if w > max_width:
        rgb = cv2.resize(rgb, (max_width, int(round(h * max_width / w))),
                         interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf)


def summary_rows(items: Sequence[tuple[str, object]]) -> list[tuple[str, str]]:
    """Format (label, value) pairs for :attr:`ReportData.summary` (floats to 3 digits)."""
    rows = []
    for label, value in items:
        if isinstance(value, float):
            value = f"{value:.3g}"
        rows.append((label, str(value)))
    return rows
