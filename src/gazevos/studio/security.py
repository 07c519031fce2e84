"""Who may talk to the studio server, and which files it may read.

The server listens on the loopback interface only, and every request must pass
:class:`Guard`, an ASGI middleware:

* **token**: a random ``secrets.token_urlsafe`` made at start and printed in the URL (as
  Jupyter does).  A request carries it as ``?token=`` (the first page load: answered with
  a redirect that sets it as an ``HttpOnly; SameSite=Strict`` cookie and drops it from the
  address bar), as that cookie, or as an ``X-Gazevos-Token`` header; compared in constant
  time.  Without it: 403.
* **Host**: must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (a DNS-rebinding page, served
  from ``evil.example`` that resolves to 127.0.0.1, sends ``Host: evil.example``): 403.
* **Origin**: when present, it must be this server's own origin; ``Sec-Fetch-Site:
  cross-site`` is refused too (cross-site requests, CSRF): 403.
* **size**: a request body over :data:`MAX_BODY_BYTES` (a brushed mask is the largest
  upload) is refused with 413, whether it declares its length or streams it.

:func:`inside` is how every handler that reads a file named by a request checks it:
resolved (symbolic links and ``..`` followed) and inside one of the allowed folders.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from gazevos.errors import GazevosError

#: largest request body accepted (bytes): a 4K brushed mask as PNG is far below this
MAX_BODY_BYTES = 8 << 20
COOKIE = "gazevos_token"
#: the page loads nothing from elsewhere (no CDN) and cannot be framed
CSP = (b"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
       b"frame-ancestors 'none'; form-action 'self'")
HEADER = b"x-gazevos-token"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def new_token() -> str:
    """A fresh random token (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def allowed_hosts(port: int) -> set[str]:
    """The Host values a browser on this machine sends to the server on ``port``."""
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


def inside(path: str | os.PathLike[str], folders: Iterable[str | os.PathLike[str]]) -> Path:
    """``path`` resolved, if it lies inside one of ``folders`` (resolved too).

    Raises:
        GazevosError: outside all of them (``..``, an absolute path elsewhere, a symbolic
            link that leads out).
    """
    try:
        p = Path(path).resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise GazevosError("cannot use this path", str(path)[:200]) from exc
    for f in folders:
        if p.is_relative_to(Path(f).resolve()):
            return p
    raise GazevosError("file is outside the recording and project folders", str(path)[:200])


async def _refuse(send: Send, status: int, text: str) -> None:
    body = f"gazevos studio: {text}\n".encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """The ASGI middleware described in the module docstring.

    Args:
        app: the application behind it.
        token: the token requests must carry.
        hosts: the accepted Host header values (``allowed_hosts(port)``).
        max_body: the largest request body in bytes.
    """

    def __init__(self, app: ASGIApp, token: str, hosts: Iterable[str],
                 max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.token = token
        self.hosts = {h.lower() for h in hosts}
        self.max_body = max_body

    def _has_token(self, headers: dict[bytes, bytes], query: dict[str, list[str]]) -> str:
        """``"query"``, ``"header"`` or ``"cookie"``: where a valid token came; ``""``: none."""
        given = query.get("token", [""])[-1]
        if given and secrets.compare_digest(given.encode(), self.token.encode()):
            return "query"
        given_h = headers.get(HEADER, b"")
        if given_h and secrets.compare_digest(given_h, self.token.encode()):
            return "header"
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no token
            return ""
        c = cookie.get(COOKIE)
        if c is not None and secrets.compare_digest(c.value.encode(), self.token.encode()):
            return "cookie"
        return ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # none are served: closed before accepting
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        headers: dict[bytes, bytes] = {}
        for k, v in scope.get("headers", []):
            headers[k.lower()] = v
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if host not in self.hosts:
            await _refuse(send, 403, f"Host '{host[:80]}' refused (open the URL the server "
                                     "printed)")
            return
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1").lower() != f"http://{host}":
            await _refuse(send, 403, "cross-origin request refused")
            return
        if headers.get(b"sec-fetch-site", b"").lower() == b"cross-site":
            await _refuse(send, 403, "cross-site request refused")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        how = self._has_token(headers, query)
        if not how:
            await _refuse(send, 403, "missing or wrong token (open the URL with ?token= "
                                     "that the server printed)")
            return
        if how == "query" and scope["method"] == "GET" and scope["path"] == "/":
            rest = {k: v for k, v in query.items() if k != "token"}
            location = "/" + (f"?{urlencode(rest, doseq=True)}" if rest else "")
            cookie = (f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/").encode()
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode()), (b"set-cookie", cookie),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body
            except ValueError:
                too_big = True
            if too_big:
                await _refuse(send, 413, f"request body over {self.max_body} bytes")
                return
        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_body:
                    if not started and not refused:
                        await _refuse(send, 413, f"request body over {self.max_body} bytes")
                    refused = True
                    return {"type": "http.disconnect"}  # the app stops reading
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if refused:
                return  # answered already (413)
            if msg["type"] == "http.response.start":
                started = True
                hdrs = list(msg.get("headers", []))
                hdrs += [(b"content-security-policy", CSP),
                         (b"x-content-type-options", b"nosniff"),
                         (b"x-frame-options", b"DENY"),
                         (b"referrer-policy", b"no-referrer")]
                if not any(k.lower() == b"cache-control" for k, _ in hdrs):
                    hdrs.append((b"cache-control", b"no-store"))
                msg = {**msg, "headers": hdrs}
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not refused:
                raise
