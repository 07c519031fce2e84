// Talking to the studio server: JSON in, JSON (or images) out.  The token travels as the
// HttpOnly cookie set when the page was first opened, so nothing here handles it.

export class ApiError extends Error {}

async function check(r) {
  if (r.ok) return r;
  let text = r.statusText;
  try {
    const body = await r.json();
    text = body.error || text;
  } catch (e) {
    text = (await r.text().catch(() => "")) || text;
  }
  throw new ApiError(text);
}

export async function getJSON(url) {
  return (await check(await fetch(url, { credentials: "same-origin" }))).json();
}

export async function send(method, url, body) {
  const r = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await check(r)).json();
}

// POST a prompt; returns {image: ImageBitmap, area, ms} of the previewed mask.
export async function preview(body) {
  const r = await check(await fetch("/api/preview", {
    method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  }));
  const blob = await r.blob();
  return { image: await createImageBitmap(blob), area: +r.headers.get("x-area"),
           ms: +r.headers.get("x-ms") };
}

// An image (frame JPEG or mask PNG); null for 204 (frame not tracked).
export async function image(url) {
  const r = await check(await fetch(url, { credentials: "same-origin" }));
  if (r.status === 204) return null;
  return createImageBitmap(await r.blob());
}

// Server-sent tracking progress: calls onEvent(job) until the job is not running.
export function trackEvents(onEvent) {
  return new Promise((resolve) => {
    const es = new EventSource("/api/track/events");
    es.onmessage = (ev) => {
      const job = JSON.parse(ev.data);
      onEvent(job);
      if (job.state !== "running") { es.close(); resolve(job); }
    };
    es.onerror = () => { es.close(); getJSON("/api/track").then((j) => { onEvent(j); resolve(j); }); };
  });
}
