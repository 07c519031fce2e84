"""The studio's HTTP layer: JSON endpoints, frames and masks as images, tracking progress
as server-sent events.  Thin: every action is a :mod:`gazevos.studio.service` function.

Endpoints (all behind :class:`gazevos.studio.security.Guard`)::

    GET    /                      the page;  /static/...  its scripts and styles
    GET    /api/state             recording, objects, keyframes, settings
    GET    /api/frame/{i}         frame i (JPEG)
    GET    /api/mask/{i}          tracked labels of frame i, coloured (PNG; 204: untracked)
    GET    /api/gaze              per frame [x, y, tolerance px, fixation id] or null
    GET    /api/timeline          per object one state character per frame
    GET    /api/tables            metrics and fixations (with overrides)
    POST   /api/objects           {name, colour?}          PATCH/DELETE /api/objects/{id}
    POST   /api/preview           {frame, object_id?, points?, box?, brush?, erase?} -> PNG
    POST   /api/keyframes         same body: a keyframe -> {"affected": [start, stop]}
    DELETE /api/keyframes/{frame}
    POST   /api/track             {start?, stop?} starts tracking (409 while one runs)
    GET    /api/track/events      server-sent events: {state, done, total, start, stop}
    POST   /api/overrides         {fixation_id, object_id (0: nothing; null: remove)}
    POST   /api/export            {force?} -> the annotate folder PROJECT/export
    GET    /api/audit             the latest changes
    GET    /api/file?path=...     a file inside the recording or project folder
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gazevos.errors import GazevosError
from gazevos.studio import service
from gazevos.studio.security import Guard, inside
from gazevos.studio.service import Prompt, Studio

JPEG_QUALITY = 85


@dataclass
class TrackJob:
    """The tracking pass in progress (one at a time)."""

    state: str = "idle"  # idle, running, done, error
    done: int = 0
    total: int = 0
    start: int = 0
    stop: int = 0
    error: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _error(exc: GazevosError, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=status)


def colour_table(studio: Studio) -> list[int]:
    """A 256-entry RGB palette: each object's colour, the rest black."""
    pal = [0] * 768
    for o in studio.project.objects():
        c = o.colour.lstrip("#")
        pal[3 * o.id:3 * o.id + 3] = [int(c[i:i + 2], 16) for i in (0, 2, 4)]
    return pal


def mask_png(labels: np.ndarray, palette: list[int], opaque: set[int] | None = None) -> bytes:
    """A palette PNG of ``labels``: ids in ``opaque`` (default: all but 0) opaque, the
    rest transparent."""
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(palette)
    alpha = bytes(255 if (i in opaque if opaque is not None else i > 0) else 0
                  for i in range(256))
    buf = io.BytesIO()
    im.save(buf, format="PNG", transparency=alpha, compress_level=1)
    return buf.getvalue()


def decode_brush(data: str, size: tuple[int, int]) -> np.ndarray:
    """A brushed mask sent as a PNG data URL: the pixels whose alpha (or value) is set."""
    try:
        raw = base64.b64decode(data.split(",", 1)[-1], validate=True)
        with Image.open(io.BytesIO(raw)) as im:
            if im.size != size:
                raise GazevosError(f"brushed mask is {im.size[0]}x{im.size[1]}, the frame "
                                   f"{size[0]}x{size[1]}")
            im.load()
            arr = np.asarray(im.convert("RGBA"))
    except (ValueError, UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise GazevosError(f"brushed mask is not a PNG ({exc.__class__.__name__})") from exc
    return arr[..., 3] > 127


def _prompt(body: dict[str, Any], studio: Studio) -> Prompt:
    prompt = Prompt.from_json(body)
    if body.get("brush"):
        prompt.brush = decode_brush(str(body["brush"]), studio.size)
    return prompt


def _int(body: dict[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    try:
        if value is None or isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise GazevosError(f"'{key}' must be a whole number") from None


def create_app(studio: Studio, token: str, hosts: set[str]) -> Guard:
    """The studio ASGI app for ``studio``, guarded (token, Host, Origin, sizes)."""
    job = TrackJob()
    job_lock = threading.Lock()
    static = Path(str(resources.files("gazevos.studio") / "static"))

    def busy() -> JSONResponse | None:
        if job.state == "running":
            return JSONResponse({"error": "tracking is running; wait for it to finish"},
                                status_code=409)
        return None

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise GazevosError("request body is not JSON") from None
        if not isinstance(data, dict):
            raise GazevosError("request body must be a JSON object")
        return data

    def endpoint(fn: Any, mutates: bool = False) -> Any:
        async def handler(request: Request) -> Response:
            if mutates and (refused := busy()) is not None:
                return refused
            try:
                return await fn(request)
            except GazevosError as exc:
                return _error(exc)
        return handler

    async def index(request: Request) -> Response:
        return FileResponse(static / "index.html", media_type="text/html")

    async def get_state(request: Request) -> Response:
        data = await run_in_threadpool(service.state, studio)
        data["track"] = job.as_dict()
        return JSONResponse(data)

    def frame_jpeg(i: int) -> bytes:
        rgb = studio.frame(i)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise GazevosError(f"cannot encode frame {i}")
        return buf.tobytes()

    async def get_frame(request: Request) -> Response:
        data = await run_in_threadpool(frame_jpeg, int(request.path_params["i"]))
        return Response(data, media_type="image/jpeg",
                        headers={"cache-control": "private, max-age=86400"})

    async def get_mask(request: Request) -> Response:
        i = int(request.path_params["i"])
        if not 0 <= i < studio.n_frames:
            raise GazevosError(f"frame {i} is outside 0..{studio.n_frames - 1}")
        labels = await run_in_threadpool(studio.labels, i)
        if labels is None:
            return Response(status_code=204)
        ids = {o.id for o in studio.project.objects()}
        return Response(mask_png(labels, colour_table(studio), ids), media_type="image/png")

    async def get_gaze(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.frame_gaze, studio))

    async def get_timeline(request: Request) -> Response:
        lanes = await run_in_threadpool(service.timeline, studio)
        return JSONResponse({str(k): v for k, v in lanes.items()})

    def tables_json() -> dict[str, Any]:
        t = service.tables(studio)
        fx = t.fixations
        cols = [c for c in ("fixation_id", "start", "end", "duration", "start_frame",
                            "end_frame", "x", "y", "object_id", "object", "hit", "override")
                if c in fx.columns]
        t0 = float(studio.rec.frame_times[0])
        fixes = json.loads(fx[cols].assign(start=fx["start"] - t0, end=fx["end"] - t0)
                           .to_json(orient="records"))
        return {"metrics": json.loads(t.metrics.to_json(orient="records")),
                "fixations": fixes}

    async def get_tables(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(tables_json))

    async def post_object(request: Request) -> Response:
        body = await body_of(request)
        row = service.add_object(studio, str(body.get("name", "")), body.get("colour"))
        return JSONResponse(row.__dict__, status_code=201)

    async def patch_object(request: Request) -> Response:
        body = await body_of(request)
        row = service.update_object(studio, int(request.path_params["id"]), body.get("name"),
                                    body.get("colour"))
        return JSONResponse(row.__dict__)

    async def delete_object(request: Request) -> Response:
        await run_in_threadpool(service.delete_object, studio, int(request.path_params["id"]))
        return JSONResponse({"deleted": int(request.path_params["id"])})

    async def post_preview(request: Request) -> Response:
        body = await body_of(request)
        frame = _int(body, "frame")
        obj = body.get("object_id")
        prompt = _prompt(body, studio)
        t = time.perf_counter()
        mask = await run_in_threadpool(service.preview_mask, studio, frame,
                                       None if obj is None else _int(body, "object_id"), prompt)
        ms = (time.perf_counter() - t) * 1000
        pal = colour_table(studio)
        pal[3:6] = pal[3 * int(obj or 0):3 * int(obj or 0) + 3] if obj else [255, 200, 0]
        return Response(mask_png(mask.astype(np.uint8), pal), media_type="image/png",
                        headers={"x-area": str(int(mask.sum())), "x-ms": f"{ms:.0f}"})

    async def post_keyframe(request: Request) -> Response:
        body = await body_of(request)
        prompt = _prompt(body, studio)
        start, stop = await run_in_threadpool(service.set_keyframe, studio,
                                              _int(body, "frame"), _int(body, "object_id"),
                                              prompt)
        return JSONResponse({"affected": [start, stop]}, status_code=201)

    async def delete_keyframe(request: Request) -> Response:
        start, stop = await run_in_threadpool(service.delete_keyframe, studio,
                                              int(request.path_params["frame"]))
        return JSONResponse({"affected": [start, stop]})

    def run_track(start: int, stop: int) -> None:
        t = time.perf_counter()

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            service.track(studio, (start, stop), progress)
            job.state = "done"
        except Exception as exc:  # noqa: BLE001 - reported to the page, not raised
            job.error = str(exc) if isinstance(exc, GazevosError) else (
                f"internal error: {exc.__class__.__name__}: {exc}")
            job.state = "error"
        job.seconds = time.perf_counter() - t

    async def post_track(request: Request) -> Response:
        body = await body_of(request)
        start = _int(body, "start", 0)
        stop = _int(body, "stop", studio.n_frames)
        if not 0 <= start <= stop <= studio.n_frames:
            raise GazevosError(f"frames {start}..{stop} are outside 0..{studio.n_frames}")
        if not studio.project.keyframe_frames():
            raise GazevosError("nothing to track yet: mark an object on a frame first")
        with job_lock:
            if job.state == "running":
                return JSONResponse({"error": "tracking is running already"}, status_code=409)
            job.__init__()  # type: ignore[misc]
            job.state, job.start, job.stop = "running", start, stop
            threading.Thread(target=run_track, args=(start, stop), daemon=True,
                             name="gazevos-studio-track").start()
        return JSONResponse(job.as_dict(), status_code=202)

    async def track_events(request: Request) -> Response:
        async def stream() -> Any:
            last = None
            while True:
                now = json.dumps(job.as_dict())
                if now != last:
                    yield f"data: {now}\n\n"
                    last = now
                if job.state != "running":
                    break
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.1)
        return StreamingResponse(stream(), media_type="text/event-stream")

    async def get_track(request: Request) -> Response:
        return JSONResponse(job.as_dict())

    async def post_override(request: Request) -> Response:
        body = await body_of(request)
        obj = body.get("object_id")
        await run_in_threadpool(service.set_override, studio, _int(body, "fixation_id"),
                                None if obj is None else _int(body, "object_id"))
        return JSONResponse({"ok": True})

    async def post_export(request: Request) -> Response:
        from gazevos.studio.export import export

        body = await body_of(request)
        out = studio.project.root / "export"
        result = await run_in_threadpool(export, studio, out, bool(body.get("force", True)))
        return JSONResponse({"out": str(result.out_dir), "files": result.files,
                             "report": str(result.out_dir / "report.html")})

    async def get_audit(request: Request) -> Response:
        return JSONResponse(studio.project.audit())

    async def get_file(request: Request) -> Response:
        path = inside(request.query_params.get("path", ""),
                      [studio.project.root, studio.rec.root])
        if not path.is_file():
            return JSONResponse({"error": "no such file"}, status_code=404)
        return FileResponse(path)

    routes = [
        Route("/", index),
        Route("/api/state", endpoint(get_state)),
        Route("/api/frame/{i:int}", endpoint(get_frame)),
        Route("/api/mask/{i:int}", endpoint(get_mask)),
        Route("/api/gaze", endpoint(get_gaze)),
        Route("/api/timeline", endpoint(get_timeline)),
        Route("/api/tables", endpoint(get_tables)),
        Route("/api/objects", endpoint(post_object, True), methods=["POST"]),
        Route("/api/objects/{id:int}", endpoint(patch_object, True), methods=["PATCH"]),
        Route("/api/objects/{id:int}", endpoint(delete_object, True), methods=["DELETE"]),
        Route("/api/preview", endpoint(post_preview), methods=["POST"]),
        Route("/api/keyframes", endpoint(post_keyframe, True), methods=["POST"]),
        Route("/api/keyframes/{frame:int}", endpoint(delete_keyframe, True),
              methods=["DELETE"]),
        Route("/api/track", endpoint(post_track), methods=["POST"]),
        Route("/api/track", endpoint(get_track), methods=["GET"]),
        Route("/api/track/events", endpoint(track_events)),
        Route("/api/overrides", endpoint(post_override, True), methods=["POST"]),
        Route("/api/export", endpoint(post_export, True), methods=["POST"]),
        Route("/api/audit", endpoint(get_audit)),
        Route("/api/file", endpoint(get_file)),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.job = job
    return Guard(app, token, hosts)
