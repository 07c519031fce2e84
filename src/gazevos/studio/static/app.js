// The studio page: frame view + scrubber + keys, prompts (point, box, brush) with a live
// preview, keyframes, tracking with progress, timeline, fixation overrides, metrics, export.
import { ApiError, getJSON, image, preview, send, trackEvents } from "./api.js";
import { markFixation, renderFixations, renderMetrics, renderObjects } from "./panels.js";
import { Timeline } from "./timeline.js";
import { FrameView } from "./view.js";

const $ = (id) => document.getElementById(id);
const S = {            // page state
  info: null,          // /api/state
  frame: 0,
  selected: null,      // object id
  gaze: [],            // per frame [x, y, tol, fid] | null
  tables: { metrics: [], fixations: [] },
  playing: false,
  tracking: false,
  loadSeq: 0,
};
let view, timeline;

function message(text, error = false) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

async function guarded(fn) {
  try {
    return await fn();
  } catch (e) {
    message(e instanceof ApiError ? e.message : `error: ${e}`, true);
    return undefined;
  }
}

// ------------------------------------------------------------------ frames
async function showFrame(i, { keepPrompt = false } = {}) {
  const n = S.info.n_frames;
  i = Math.max(0, Math.min(n - 1, i | 0));
  if (i !== S.frame && !keepPrompt) clearPrompt();
  S.frame = i;
  const seq = ++S.loadSeq;
  const [frame, mask] = await Promise.all([image(`/api/frame/${i}`), image(`/api/mask/${i}`)]);
  if (seq !== S.loadSeq) return;  // a later request won
  view.frame = frame;
  view.mask = mask;
  view.gaze = S.gaze[i] || null;
  view.fixation = view.gaze && view.gaze[3] >= 0
    ? S.tables.fixations.find((f) => f.fixation_id === view.gaze[3]) || null : null;
  view.draw();
  $("scrubber").value = i;
  const t = i / S.info.fps;
  $("frame-text").textContent = `frame ${i} / ${n - 1}  ${t.toFixed(2)} s`;
  document.body.dataset.frame = String(i);
  timeline.cursor(i);
  markFixation($("fixations"), view.gaze ? view.gaze[3] : -1);
  $("unkey").hidden = !S.info.keyframes.some((k) => k.frame === i);
}

async function play() {
  S.playing = !S.playing;
  $("play").innerHTML = S.playing ? "&#10074;&#10074;" : "&#9654;";
  const dt = 1000 / S.info.fps;
  while (S.playing && S.frame < S.info.n_frames - 1) {
    const t0 = performance.now();
    await showFrame(S.frame + 1);
    await new Promise((r) => setTimeout(r, Math.max(0, dt - (performance.now() - t0))));
  }
  S.playing = false;
  $("play").innerHTML = "&#9654;";
}

// ------------------------------------------------------------------ data refresh
async function refreshState() {
  S.info = await getJSON("/api/state");
  if (S.selected !== null && !S.info.objects.some((o) => o.id === S.selected)) S.selected = null;
  renderObjects($("objects"), S.info.objects, S.selected, objectHandlers);
}

async function refreshAll() {
  await refreshState();
  const [lanes, tables, gaze] = await Promise.all([
    getJSON("/api/timeline"), getJSON("/api/tables"), getJSON("/api/gaze")]);
  S.tables = tables;
  S.gaze = gaze;
  timeline.set(S.info.objects, lanes);
  renderMetrics($("metrics"), tables.metrics);
  renderFixationsNow();
  const untracked = S.info.untracked.reduce((a, [s, e]) => a + e - s, 0);
  $("track").textContent = untracked && untracked < S.info.n_frames && S.info.keyframes.length
    ? `Track (${untracked} frames left)` : "Track";
  await showFrame(S.frame, { keepPrompt: true });
}

function renderFixationsNow() {
  const g = S.gaze[S.frame];
  renderFixations($("fixations"), S.tables.fixations, S.info.objects, S.info.overrides,
    g ? g[3] : -1, {
      jump: (f) => showFrame(f),
      override: (fid, oid) => guarded(async () => {
        await send("POST", "/api/overrides", { fixation_id: fid, object_id: oid });
        await refreshAll();
        message(`fixation ${fid}: ${oid === null ? "as mapped" : oid === 0 ? "on nothing"
          : "on " + S.info.objects.find((o) => o.id === oid).name} (logged)`);
      }),
    });
}

// ------------------------------------------------------------------ objects
const objectHandlers = {
  select: (id) => { S.selected = id; clearPrompt(); renderObjects($("objects"), S.info.objects, S.selected, objectHandlers); },
  rename: (id, name) => guarded(async () => { await send("PATCH", `/api/objects/${id}`, { name }); await refreshAll(); }),
  recolour: (id, colour) => guarded(async () => { await send("PATCH", `/api/objects/${id}`, { colour }); await refreshAll(); }),
  remove: (id) => guarded(async () => {
    await send("DELETE", `/api/objects/${id}`);
    message("object deleted: press Track to update the masks");
    await refreshAll();
  }),
  next: (id) => {
    const d = timeline.doubtful(id);
    const f = d.find((x) => x > S.frame) ?? d[0];
    if (f === undefined) message("no doubtful frame for this object");
    else showFrame(f);
  },
};

async function newObject(name) {
  const used = new Set(S.info.objects.map((o) => o.name));
  let n = S.info.objects.length + 1;
  while (!name && used.has(`object ${n}`)) n++;
  const o = await send("POST", "/api/objects", { name: name || `object ${n}` });
  S.selected = o.id;
  await refreshState();
  return o;
}

// ------------------------------------------------------------------ prompts
function promptBody() {
  const body = { frame: S.frame, object_id: S.selected, points: view.points, box: view.box };
  if (view.brush) { body.brush = view.brush.toDataURL("image/png"); body.erase = S.erase; }
  return body;
}

function hasPrompt() {
  return view.points.some((p) => p[2]) || view.box !== null || view.brush !== null;
}

function clearPrompt() {
  view.clearPrompt();
  S.erase = false;
  $("apply").disabled = $("clear").disabled = true;
  $("preview-text").textContent = "";
  view.draw();
}

let previewSeq = 0;
async function updatePreview() {
  $("apply").disabled = $("clear").disabled = !hasPrompt();
  view.draw();
  if (!hasPrompt()) return;
  const seq = ++previewSeq;
  const t0 = performance.now();
  const p = await guarded(() => preview(promptBody()));
  if (!p || seq !== previewSeq) return;
  view.preview = p.image;
  view.draw();
  $("preview-text").textContent =
    `preview: ${p.area} px (${Math.round(performance.now() - t0)} ms) — Apply or Enter`;
  document.body.dataset.preview = String(p.area);
}

async function apply() {
  if (!hasPrompt() || S.selected === null) return;
  const r = await guarded(() => send("POST", "/api/keyframes", promptBody()));
  if (!r) return;
  clearPrompt();
  const [a, b] = r.affected;
  const wasTracked = S.info.untracked.reduce((x, [s, e]) => x + e - s, 0) < S.info.n_frames;
  await refreshAll();
  if (wasTracked) {
    message(`keyframe at frame ${S.frame}: re-tracking frames ${a}..${b - 1}`);
    await runTrack(a, b);
  } else {
    message(`keyframe at frame ${S.frame}; press Track to track every frame`);
  }
}

// ------------------------------------------------------------------ tracking
async function runTrack(start, stop, attach = false) {
  if (S.tracking) return;
  if (!attach) {
    const body = start === undefined ? {} : { start, stop };
    const ok = await guarded(() => send("POST", "/api/track", body));
    if (!ok) return;
  }
  S.tracking = true;
  document.body.dataset.tracking = "running";
  $("track").disabled = true;
  $("progress").hidden = false;
  const job = await trackEvents((j) => {
    $("progress").value = j.total ? j.done / j.total : 0;
    $("track-text").textContent = j.state === "running"
      ? `tracking ${j.start}..${j.stop - 1}: ${j.done}/${j.total}` : "";
  });
  S.tracking = false;
  $("track").disabled = false;
  $("progress").hidden = true;
  await refreshAll();
  if (job.state === "error") message(job.error, true);
  else message(`tracked frames ${job.start}..${job.stop - 1} in ${job.seconds.toFixed(1)} s`);
  document.body.dataset.tracking = job.state;  // after the refresh: the page is up to date
}

// ------------------------------------------------------------------ mouse on the frame
function setupCanvas() {
  const c = view.canvas;
  let drag = null;
  const tool = () => document.querySelector("input[name=tool]:checked").value;
  c.addEventListener("mousedown", (ev) => {
    if (S.tracking) return;
    ev.preventDefault();
    const [x, y] = view.toFrame(ev);
    drag = { x0: x, y0: y, tool: tool(), shift: ev.shiftKey, moved: false, creating: null };
    if (S.selected === null) {  // a click with no object selected adds one
      drag.creating = guarded(() => newObject()).then((o) => {
        if (o) message("new object added: rename it in the list; Apply makes this frame its keyframe");
        return o;
      });
    }
    if (drag.tool === "brush") {
      if (view.points.length || view.box) view.clearPrompt();
      S.erase = ev.shiftKey;
      view.paint(x, y, +$("brush-size").value, S.erase);
      view.draw();
    }
  });
  c.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const [x, y] = view.toFrame(ev);
    if (Math.hypot(x - drag.x0, y - drag.y0) > 3) drag.moved = true;
    if (drag.tool === "box" && drag.moved) {
      view.box = [Math.min(drag.x0, x), Math.min(drag.y0, y), Math.max(drag.x0, x), Math.max(drag.y0, y)];
      view.draw();
    } else if (drag.tool === "brush") {
      view.paint(x, y, +$("brush-size").value, S.erase);
      view.draw();
    }
  });
  window.addEventListener("mouseup", async () => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.creating && !(await d.creating)) return;
    if (d.tool === "point" || (d.tool === "box" && !d.moved)) {
      if (view.brush) view.brush = null;
      view.points.push([Math.round(d.x0), Math.round(d.y0), d.shift ? 0 : 1]);
    }
    updatePreview();
  });
}

// ------------------------------------------------------------------ keys and buttons
function setupControls() {
  $("scrubber").max = S.info.n_frames - 1;
  // while dragging the scrubber, ask only for the latest position once the last one is shown
  let wanted = null, busy = false;
  $("scrubber").addEventListener("input", async (ev) => {
    wanted = +ev.target.value;
    if (busy) return;
    busy = true;
    while (wanted !== null) {
      const f = wanted;
      wanted = null;
      await showFrame(f);
    }
    busy = false;
  });
  $("play").addEventListener("click", play);
  $("track").addEventListener("click", () => runTrack());
  $("apply").addEventListener("click", apply);
  $("clear").addEventListener("click", clearPrompt);
  $("unkey").addEventListener("click", () => guarded(async () => {
    const f = S.frame;
    const r = await send("DELETE", `/api/keyframes/${f}`);
    await refreshAll();
    message(`keyframe ${f} removed: re-tracking frames ${r.affected[0]}..${r.affected[1] - 1}`);
    await runTrack(r.affected[0], r.affected[1]);
  }));
  $("export").addEventListener("click", () => guarded(async () => {
    message("exporting (masks, tables, overlay, report) ...");
    document.body.dataset.export = "running";
    const r = await send("POST", "/api/export", { force: true });
    const a = document.createElement("a");
    a.href = `/api/file?path=${encodeURIComponent(r.report)}`;
    a.target = "_blank";
    a.textContent = "report.html";
    $("message").className = "";
    $("message").replaceChildren(`exported to ${r.out} (${r.files.length} items): `, a);
    document.body.dataset.export = "done";
  }));
  $("new-object").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = $("new-name").value.trim();
    if (!name) return;
    guarded(async () => { await newObject(name); $("new-name").value = ""; await refreshAll(); });
  });
  window.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" && ev.target.type === "text") return;
    if (ev.target.tagName === "SELECT") return;
    const step = ev.shiftKey ? Math.round(S.info.fps) : 1;
    if (ev.key === "ArrowRight") { ev.preventDefault(); showFrame(S.frame + step); }
    else if (ev.key === "ArrowLeft") { ev.preventDefault(); showFrame(S.frame - step); }
    else if (ev.key === " ") { ev.preventDefault(); play(); }
    else if (ev.key === "Enter") { ev.preventDefault(); apply(); }
    else if (ev.key === "Escape") clearPrompt();
  });
  window.addEventListener("resize", () => timeline.draw());
}

async function main() {
  await guarded(async () => {
    S.info = await getJSON("/api/state");
    $("recording").textContent = `${S.info.recording} — ${S.info.width}x${S.info.height}, ` +
      `${S.info.n_frames} frames, tracker ${S.info.tracker}`;
    view = new FrameView($("view"), S.info.width, S.info.height);
    timeline = new Timeline($("timeline"), S.info.n_frames, (f) => showFrame(f));
    setupCanvas();
    setupControls();
    await refreshAll();
    if (S.info.track.state === "running") runTrack(undefined, undefined, true);
    document.body.dataset.ready = "1";
  });
}

main();
