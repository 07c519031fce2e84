"""End to end in a real headless Chromium (Playwright): open the studio on the demo sample,
add an object by click, track, correct at a frame (only the stretch up to the neighbouring
keyframes changes on disk), override a fixation, export, and compare the exported tables
with ``gazevos annotate --project``.  Screenshots of each step go to
``test-artifacts/studio/`` (git-ignored).

Skips when Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) or Playwright is
absent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gazevos.io.masks import read_mask

CHROMIUM = os.environ.get("GAZEVOS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "studio"

pytestmark = [
    pytest.mark.skipif(not shutil.which(CHROMIUM) and not Path(CHROMIUM).is_file(),
                       reason=f"Chromium not found at {CHROMIUM} (.ci/run installs it)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture
def server(studio) -> Iterator[tuple[str, str]]:
    """The studio app served by uvicorn on 127.0.0.1 (a free port) in a thread."""
    import uvicorn

    from gazevos.studio.app import create_app
    from gazevos.studio.security import allowed_hosts, new_token

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    token = new_token()
    app = create_app(studio, token, allowed_hosts(port))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    for _ in range(600):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    srv.should_exit = True
    th.join(10)
    sock.close()


@pytest.fixture
def page(server) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # bypass_csp: Playwright's wait_for_function evaluates strings, which the studio's
        # Content-Security-Policy forbids to page scripts (tested in the API tests)
        pg = browser.new_page(viewport={"width": 1280, "height": 860}, bypass_csp=True)
        pg.set_default_timeout(90_000)  # generous: CI machines are shared
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.errors = errors  # type: ignore[attr-defined]
        yield pg
        browser.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _click_at(page, x: float, y: float, w: int, h: int, modifiers=None) -> None:
    box = page.locator("#view").bounding_box()
    page.mouse.move(box["x"] + x / w * box["width"], box["y"] + y / h * box["height"])
    if modifiers:
        page.keyboard.down(modifiers)
    page.mouse.down()
    page.mouse.up()
    if modifiers:
        page.keyboard.up(modifiers)


def _drag(page, x0, y0, x1, y1, w, h) -> None:
    box = page.locator("#view").bounding_box()
    sx, sy = box["width"] / w, box["height"] / h
    page.mouse.move(box["x"] + x0 * sx, box["y"] + y0 * sy)
    page.mouse.down()
    page.mouse.move(box["x"] + (x0 + x1) / 2 * sx, box["y"] + (y0 + y1) / 2 * sy)
    page.mouse.move(box["x"] + x1 * sx, box["y"] + y1 * sy)
    page.mouse.up()


def _truth_box(sample, frame: int, obj: int) -> tuple[float, float, float, float]:
    m = read_mask(sample.truth_dir / f"{frame:05d}.png") == obj
    ys, xs = np.nonzero(m)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def _digests(folder: Path) -> dict[int, str]:
    return {int(p.stem): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in folder.glob("[0-9]*.png")}


def _wait_tracked(page, timeout=120_000) -> None:
    page.wait_for_function("document.body.dataset.tracking === 'done'", timeout=timeout)


def test_first_study_in_the_browser(page, server, studio, sample, tmp_path):
    url, token = server
    w, h = sample.size
    page.goto(f"{url}/?token={token}")
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
    assert "token" not in page.url  # redirected: the token now lives in the cookie
    _shot(page, "01-opened")

    # add an object by clicking on the book (frame 0): a preview, then Apply
    x0, y0, x1, y1 = _truth_box(sample, 0, 2)
    _click_at(page, (x0 + x1) / 2, y0 + 0.9 * (y1 - y0), w, h)  # blue cover, below the text
    page.wait_for_function("+document.body.dataset.preview > 0", timeout=60_000)
    assert page.locator("#objects li").count() == 1
    page.locator("#objects li input[type=text]").fill("book")
    page.locator("#objects li input[type=text]").press("Tab")
    _shot(page, "02-preview")
    book = read_mask(sample.truth_dir / "00000.png") == 2
    assert int(page.evaluate("document.body.dataset.preview")) > 0.6 * book.sum()
    page.click("#apply")
    page.wait_for_function("document.querySelector('#message').textContent"
                           ".includes('keyframe at frame 0')")

    # track every frame, with a progress bar fed by server-sent events
    page.click("#track")
    _wait_tracked(page)
    _shot(page, "03-tracked")
    assert len(_digests(studio.project.masks_dir)) == 60

    # keys: shift+right = one second (30 frames), right = one frame
    page.locator("body").press("Shift+ArrowRight")
    page.locator("body").press("ArrowRight")
    page.wait_for_function("document.body.dataset.frame === '31'")

    # a keyframe at frame 50 (dragged box), then a correction at 31: only 1..49 may change
    for _ in range(19):
        page.locator("body").press("ArrowRight")
    page.wait_for_function("document.body.dataset.frame === '50'")
    page.evaluate("document.body.dataset.tracking = ''")
    bx = _truth_box(sample, 50, 2)
    page.check("input[name=tool][value=box]")
    _drag(page, bx[0] - 2, bx[1] - 2, bx[2] + 2, bx[3] + 2, w, h)
    page.wait_for_function("document.querySelector('#apply').disabled === false")
    page.keyboard.press("Enter")
    _wait_tracked(page)
    before = _digests(studio.project.masks_dir)
    page.locator("body").press("Shift+ArrowLeft")
    page.locator("body").press("ArrowRight")
    page.wait_for_function("document.body.dataset.frame === '21'")
    page.evaluate("document.body.dataset.tracking = ''")
    page.check("input[name=tool][value=point]")
    cx0, cy0, cx1, cy1 = _truth_box(sample, 21, 2)
    _click_at(page, (cx0 + cx1) / 2, cy0 + 0.9 * (cy1 - cy0), w, h)
    _click_at(page, cx1 + 8, (cy0 + cy1) / 2, w, h, modifiers="Shift")  # negative point
    page.wait_for_function("document.querySelector('#apply').disabled === false")
    _shot(page, "04-correction-preview")
    page.click("#apply")
    _wait_tracked(page)
    after = _digests(studio.project.masks_dir)
    changed = sorted(i for i in after if after[i] != before[i])
    assert changed, "the correction changed no mask"
    assert min(changed) >= 1 and max(changed) <= 49, changed
    assert all(after[i] == before[i] for i in range(50, 60))
    lane = page.evaluate("fetch('/api/timeline').then(r => r.json())")
    assert [i for i, c in enumerate(next(iter(lane.values()))) if c == "k"] == [0, 21, 50]
    _shot(page, "05-corrected")

    # override a fixation mapped to nothing: "on the book"; logged, metrics refresh
    tables = page.evaluate("fetch('/api/tables').then(r => r.json())")
    fid = next(f["fixation_id"] for f in tables["fixations"] if f["object_id"] == 0)
    oid = next(m["object_id"] for m in tables["metrics"] if m["object"] == "book")
    dwell = next(m["dwell_time"] for m in tables["metrics"] if m["object"] == "book")
    page.locator(f"#fixations select[data-fixation='{fid}']").select_option(str(oid))
    page.wait_for_function("document.querySelector('#message').textContent.includes('logged')")
    audit = page.evaluate("fetch('/api/audit').then(r => r.json())")
    assert audit[0]["action"] == "override fixation"
    assert audit[0]["after"] == {"fixation_id": fid, "object_id": oid}
    assert page.locator(f"#fixations select[data-fixation='{fid}']").input_value() == str(oid)
    shown = page.locator("#metrics tr", has_text="book").locator("td").nth(1).inner_text()
    assert float(shown) > dwell + 0.05  # the table on the page shows the new dwell
    _shot(page, "06-override")

    # export, then the same tables headless from the project folder
    page.click("#export")
    page.wait_for_function("document.body.dataset.export === 'done'", timeout=60_000)
    _shot(page, "07-exported")
    exported = studio.project.root / "export"
    assert (exported / "manifest.json").is_file()
    from gazevos.cli import main

    assert main(["annotate", "--project", str(studio.project.root), "--out",
                 str(tmp_path / "headless"), "-q"]) == 0
    for name in ("gaze_samples", "fixations", "metrics", "transitions"):
        pd.testing.assert_frame_equal(pd.read_csv(exported / f"{name}.csv"),
                                      pd.read_csv(tmp_path / "headless" / f"{name}.csv"))
    fx = pd.read_csv(exported / "fixations.csv")
    assert fx.loc[fx.fixation_id == fid, "object_id"].item() == oid
    assert page.errors == []  # type: ignore[attr-defined]

    # the page works under its own Content-Security-Policy (nothing from elsewhere, no eval)
    strict = page.context.browser.new_page()
    console: list[str] = []
    strict.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    strict.goto(f"{url}/?token={token}")
    strict.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
    assert strict.locator("#objects li").count() == 1
    assert not [m for m in console if "Content Security Policy" in m], console
    strict.close()
