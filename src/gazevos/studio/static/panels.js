// The side panels: objects (select, rename, recolour, delete), metrics, fixations with
// their override (this fixation is on object X / on nothing / as mapped).

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// handlers: {select(id), rename(id, name), recolour(id, colour), remove(id), next(id)}
export function renderObjects(list, objects, selected, handlers) {
  list.replaceChildren(...objects.map((o) => {
    const name = el("input", { type: "text", value: o.name, "aria-label": "name",
      onchange: (ev) => handlers.rename(o.id, ev.target.value) });
    const colour = el("input", { type: "color", value: o.colour, "aria-label": "colour",
      onchange: (ev) => handlers.recolour(o.id, ev.target.value) });
    const li = el("li", { class: o.id === selected ? "selected" : "", "data-id": o.id,
      onclick: (ev) => { if (ev.target === li) handlers.select(o.id); } },
      el("input", { type: "radio", name: "object", checked: o.id === selected,
        "aria-label": `select ${o.name}`, onchange: () => handlers.select(o.id) }),
      colour, name,
      el("button", { title: "next doubtful frame (low confidence or lost)",
        onclick: () => handlers.next(o.id) }, "»"),
      el("button", { title: "delete object", class: "delete",
        onclick: () => { if (confirm(`Delete ${o.name}?`)) handlers.remove(o.id); } }, "✕"));
    return li;
  }));
}

const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : (+v).toFixed(d));

export function renderMetrics(table, metrics) {
  const head = el("tr", {}, el("th", {}, "object"), el("th", {}, "dwell s"),
    el("th", {}, "visits"), el("th", {}, "fixations"), el("th", {}, "first fix. s"));
  table.replaceChildren(head, ...metrics.map((m) => el("tr", {},
    el("td", {}, m.object), el("td", { class: "num" }, fmt(m.dwell_time)),
    el("td", { class: "num" }, m.n_visits ?? "–"), el("td", { class: "num" }, m.n_fixations ?? "–"),
    el("td", { class: "num" }, fmt(m.time_to_first_fixation)))));
}

// handlers: {jump(frame), override(fixation_id, object_id | null)}
export function renderFixations(table, fixations, objects, overrides, current, handlers) {
  const head = el("tr", {}, el("th", {}, "#"), el("th", {}, "start s"), el("th", {}, "dur s"),
    el("th", {}, "on"));
  const rows = fixations.map((f) => {
    const ov = overrides[String(f.fixation_id)];
    const choice = ov === undefined ? "auto" : String(ov);
    const select = el("select", { "aria-label": `fixation ${f.fixation_id} object`,
      "data-fixation": f.fixation_id,
      onchange: (ev) => handlers.override(f.fixation_id,
        ev.target.value === "auto" ? null : +ev.target.value) },
      el("option", { value: "auto", selected: choice === "auto" },
        `as mapped${ov === undefined ? ": " + (f.object || "nothing") : ""}`),
      el("option", { value: "0", selected: choice === "0" }, "on nothing"),
      ...objects.map((o) => el("option", { value: o.id, selected: choice === String(o.id) },
        `on ${o.name}`)));
    const tr = el("tr", { "data-fixation": f.fixation_id, class: [f.override ? "override" : "",
      current === f.fixation_id ? "current" : ""].join(" ").trim(),
      onclick: (ev) => { if (ev.target.tagName !== "SELECT" && ev.target.tagName !== "OPTION"
        && f.start_frame >= 0) handlers.jump(f.start_frame); } },
      el("td", {}, f.fixation_id), el("td", { class: "num" }, fmt(f.start, 2)),
      el("td", { class: "num" }, fmt(f.duration, 2)), el("td", {}, select));
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

// Mark the row of the fixation under the current frame's gaze (-1: none).
export function markFixation(table, fid) {
  for (const tr of table.querySelectorAll("tr[data-fixation]")) {
    tr.classList.toggle("current", +tr.dataset.fixation === fid);
  }
}
