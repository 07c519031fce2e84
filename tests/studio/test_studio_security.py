"""Every refusal of the studio's guard: token, Host, Origin, cross-site, size, files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _studio_helpers import BASE, PORT
from starlette.testclient import TestClient

from gazevos.errors import GazevosError
from gazevos.studio.app import create_app
from gazevos.studio.security import MAX_BODY_BYTES, allowed_hosts, inside


@pytest.fixture
def bare(studio, token):
    """A client that sends no token by itself."""
    app = create_app(studio, token, allowed_hosts(PORT))
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        yield c


def test_no_token_or_a_wrong_one_is_refused(bare, token):
    for r in (bare.get("/api/state"), bare.get("/"), bare.get("/static/app.js"),
              bare.get("/api/state", headers={"x-gazevos-token": token[:-1] + "x"}),
              bare.get("/api/state?token=nope"),
              bare.post("/api/objects", json={"name": "x"})):
        assert r.status_code == 403, r.url
        assert "token" in r.text
    ok = bare.get("/api/state", headers={"x-gazevos-token": token})
    assert ok.status_code == 200
    assert "default-src 'self'" in ok.headers["content-security-policy"]
    assert ok.headers["x-frame-options"] == "DENY"


def test_token_in_url_becomes_a_strict_httponly_cookie(bare, token):
    r = bare.get(f"/?token={token}")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert f"gazevos_token={token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    r = bare.get("/api/state", cookies={"gazevos_token": token})
    assert r.status_code == 200
    assert bare.get("/api/state", cookies={"gazevos_token": "x"}).status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1:9999",
                                  "localhost", "0.0.0.0:8765", ""])
def test_foreign_host_is_refused(bare, token, host):
    r = bare.get("/api/state", headers={"host": host, "x-gazevos-token": token})
    assert r.status_code == 403 and "Host" in r.text


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}"])
def test_own_hosts_are_served(bare, token, host):
    r = bare.get("/api/state", headers={"host": host, "x-gazevos-token": token})
    assert r.status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", f"http://localhost:{PORT}",
                                    f"https://127.0.0.1:{PORT}"])
def test_foreign_origin_is_refused(bare, token, origin):
    r = bare.post("/api/objects", json={"name": "x"},
                  headers={"origin": origin, "x-gazevos-token": token})
    assert r.status_code == 403 and "cross-origin" in r.text


def test_own_origin_is_served_and_cross_site_fetch_refused(bare, token):
    r = bare.post("/api/objects", json={"name": "x"},
                  headers={"origin": BASE, "x-gazevos-token": token})
    assert r.status_code == 201
    r = bare.get("/api/state", headers={"sec-fetch-site": "cross-site",
                                        "x-gazevos-token": token})
    assert r.status_code == 403


def test_oversized_upload_is_refused(bare, token):
    big = b'{"brush": "' + b"A" * (MAX_BODY_BYTES + 10) + b'"}'
    r = bare.post("/api/preview", content=big,
                  headers={"x-gazevos-token": token, "content-type": "application/json"})
    assert r.status_code == 413

    def chunks():  # no Content-Length: counted while it streams
        for _ in range(MAX_BODY_BYTES // (1 << 20) + 2):
            yield b"A" * (1 << 20)

    r = bare.post("/api/preview", content=chunks(),
                  headers={"x-gazevos-token": token, "content-type": "application/json"})
    assert r.status_code == 413


def test_files_only_inside_project_and_recording(client, studio, sample, tmp_path):
    ok = client.get("/api/file", params={"path": str(sample.root / "info.player.json")})
    assert ok.status_code == 200 and "recording_name" in ok.text
    for path in ("/etc/passwd", str(sample.root / ".." / ".." / "x"),
                 str(studio.project.root / ".." / "secret.txt")):
        r = client.get("/api/file", params={"path": path})
        assert r.status_code == 400 and "outside" in r.json()["error"]
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    link = studio.project.root / "link.txt"
    os.symlink(secret, link)  # a link inside that leads out
    assert client.get("/api/file", params={"path": str(link)}).status_code == 400


def test_inside_resolves(tmp_path: Path):
    (tmp_path / "a").mkdir()
    assert inside(tmp_path / "a" / "f", [tmp_path / "a"]) == (tmp_path / "a" / "f").resolve()
    with pytest.raises(GazevosError):
        inside(tmp_path / "a" / ".." / "b", [tmp_path / "a"])


def test_websocket_is_refused(bare, token):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with bare.websocket_connect("/ws", headers={"x-gazevos-token": token}):
            pass


def test_server_binds_loopback_only_and_stops_on_ctrl_c(sample, tmp_path):
    """The real command: serves on 127.0.0.1 only, with a token; SIGINT stops it cleanly."""
    import re
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "gazevos.cli", "studio", str(sample.root),
                             "--project", str(tmp_path / "p"), "--port", "0", "--no-browser",
                             "--tracker", "flow"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in proc.stdout:  # type: ignore[union-attr]
            m = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=[\w-]+)", line)
            if m:
                url, port = m.group(1), int(m.group(2))
                break
        assert url is not None, "no URL printed"
        token = url.split("token=")[1]
        for _ in range(600):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/state",
                              headers={"x-gazevos-token": token})
                break
            except httpx.ConnectError:
                import time

                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["n_frames"] == 60
        assert httpx.get(f"http://127.0.0.1:{port}/api/state").status_code == 403
        other = socket.gethostbyname(socket.gethostname())
        if other != "127.0.0.1":  # another address of this machine: nothing listens there
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=2).close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert "stopped" in out
        assert proc.returncode in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
