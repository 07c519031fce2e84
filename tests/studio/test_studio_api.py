"""The studio's HTTP API through Starlette's test client, on the 60-frame demo sample."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _studio_helpers import box_of
from PIL import Image

from gazevos.io.masks import read_mask


def _wait_track(client) -> dict:
    for _ in range(2400):
        job = client.get("/api/track").json()
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("tracking did not finish")


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def _mark_mug(client, sample) -> int:
    oid = client.post("/api/objects", json={"name": "mug"}).json()["id"]
    r = client.post("/api/keyframes", json={"frame": 0, "object_id": oid,
                                            "box": box_of(sample.boxes[0])})
    assert r.status_code == 201, r.text
    return oid


def test_state_frame_and_mask(client, sample):
    st = client.get("/api/state").json()
    assert (st["width"], st["height"], st["n_frames"]) == (320, 180, 60)
    assert st["tracker"] == "flow" and st["objects"] == []
    r = client.get("/api/frame/5")
    assert r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (320, 180)
    assert client.get("/api/mask/5").status_code == 204  # not tracked yet
    assert client.get("/api/frame/60").status_code == 400
    assert "outside" in client.get("/api/frame/60").json()["error"]


def test_preview_point_is_the_ball_and_stores_nothing(client, sample, studio):
    oid = client.post("/api/objects", json={"name": "ball", "colour": "#00ff00"}).json()["id"]
    name, rest = sample.points[0].split(":")
    xy, frame = rest.split("@")
    x, y = (float(v) for v in xy.split(","))
    r = client.post("/api/preview", json={"frame": int(frame), "object_id": oid,
                                          "points": [[x, y, 1]]})
    assert r.status_code == 200, r.text
    mask = np.asarray(Image.open(io.BytesIO(r.content)).convert("P")) > 0
    truth = read_mask(sample.truth_dir / f"{int(frame):05d}.png") == 3
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.7, iou
    assert int(r.headers["x-area"]) == mask.sum()
    assert client.get("/api/state").json()["keyframes"] == []
    # a negative point on the ball removes it again
    r = client.post("/api/preview", json={"frame": int(frame), "object_id": oid,
                                          "box": [x - 20, y - 20, x + 20, y + 20],
                                          "points": [[x, y, 0]]})
    assert int(r.headers["x-area"]) < truth.sum() / 2


def test_objects_rename_recolour_delete_are_audited(client):
    a = client.post("/api/objects", json={"name": "cup"}).json()
    assert a["id"] == 1 and a["colour"].startswith("#")
    assert client.post("/api/objects", json={"name": "cup"}).status_code == 400
    r = client.patch(f"/api/objects/{a['id']}", json={"name": "mug", "colour": "#FF0000"})
    assert r.json() == {"id": 1, "name": "mug", "colour": "#ff0000"}
    assert client.patch("/api/objects/1", json={"colour": "red"}).status_code == 400
    assert client.delete("/api/objects/1").status_code == 200
    assert client.get("/api/state").json()["objects"] == []
    actions = [e["action"] for e in client.get("/api/audit").json()]
    assert actions[:3] == ["delete object", "update object", "add object"]
    upd = client.get("/api/audit").json()[1]
    assert upd["before"]["name"] == "cup" and upd["after"]["name"] == "mug"


def test_track_sse_correct_retracks_only_the_affected_stretch(client, sample, studio):
    oid = _mark_mug(client, sample)
    r = client.post("/api/track", json={})
    assert r.status_code == 202
    with client.stream("GET", "/api/track/events") as events:
        msgs = [json.loads(line[6:]) for line in events.iter_lines()
                if line.startswith("data: ")]
    assert msgs[-1]["state"] == "done" and msgs[-1]["done"] == msgs[-1]["total"] > 0
    lane = client.get("/api/timeline").json()[str(oid)]
    assert len(lane) == 60 and lane[0] == "k" and set(lane[1:]) <= {"v", "c"}
    assert client.get("/api/mask/10").headers["content-type"] == "image/png"
    # keyframe at 40, then a correction at 20: only frames 1..39 may change
    box = box_of(sample.boxes[0])
    client.post("/api/keyframes", json={"frame": 40, "object_id": oid, "box": box})
    client.post("/api/track", json={"start": 1, "stop": 60})
    _wait_track(client)
    before = _digests(studio.project.masks_dir)
    shifted = [box[0] + 6, box[1], box[2] + 6, box[3]]
    r = client.post("/api/keyframes", json={"frame": 20, "object_id": oid, "box": shifted})
    assert r.json()["affected"] == [1, 40]
    client.post("/api/track", json={"start": 1, "stop": 40})
    assert _wait_track(client)["state"] == "done"
    after = _digests(studio.project.masks_dir)
    changed = sorted(int(k[:5]) for k in after if after[k] != before.get(k))
    assert changed and min(changed) >= 1 and max(changed) < 40
    assert 20 in changed or 19 in changed
    lane = client.get("/api/timeline").json()[str(oid)]
    assert [i for i, c in enumerate(lane) if c == "k"] == [0, 20, 40]
    # removing the correction again: the same stretch, and its frames come back
    assert client.delete("/api/keyframes/20").json() == {"affected": [1, 40]}
    client.post("/api/track", json={"start": 1, "stop": 40})
    _wait_track(client)
    assert _digests(studio.project.masks_dir) == before
    assert client.delete("/api/keyframes/20").status_code == 400


def test_override_changes_metrics_and_is_logged(client, sample):
    oid = _mark_mug(client, sample)
    client.post("/api/track", json={})
    _wait_track(client)
    t = client.get("/api/tables").json()
    off = [f for f in t["fixations"] if f["object_id"] != oid]
    assert off, "the scripted gaze has fixations off the mug"
    fid = off[0]["fixation_id"]
    dwell = {m["object"]: m["dwell_time"] for m in t["metrics"]}
    r = client.post("/api/overrides", json={"fixation_id": fid, "object_id": oid})
    assert r.status_code == 200
    t2 = client.get("/api/tables").json()
    fx = next(f for f in t2["fixations"] if f["fixation_id"] == fid)
    assert fx["object_id"] == oid and fx["override"] is True
    dwell2 = {m["object"]: m["dwell_time"] for m in t2["metrics"]}
    assert dwell2["mug"] > dwell["mug"]
    entry = client.get("/api/audit").json()[0]
    assert entry["action"] == "override fixation"
    assert entry["after"] == {"fixation_id": fid, "object_id": oid}
    assert client.post("/api/overrides", json={"fixation_id": 9999,
                                               "object_id": 0}).status_code == 400


def test_brush_adds_and_erases_pixels(client, sample, studio):
    oid = _mark_mug(client, sample)
    rgba = np.zeros((180, 320, 4), np.uint8)
    rgba[10:20, 250:300, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    r = client.post("/api/keyframes", json={"frame": 0, "object_id": oid, "brush": url})
    assert r.status_code == 201, r.text
    labels = studio.project.keyframe_labels(0)
    assert (labels[10:20, 250:300] == oid).all()
    assert (labels == oid).sum() > 500  # the mug is still there
    r = client.post("/api/keyframes", json={"frame": 0, "object_id": oid, "brush": url,
                                            "erase": True})
    assert (studio.project.keyframe_labels(0)[10:20, 250:300] == 0).all()
    bad = client.post("/api/keyframes", json={"frame": 0, "object_id": oid,
                                              "brush": "data:image/png;base64,AAAA"})
    assert bad.status_code == 400


def test_export_equals_headless_annotate_project(client, sample, studio, tmp_path):
    from gazevos.cli import main

    oid = _mark_mug(client, sample)
    client.post("/api/track", json={})
    _wait_track(client)
    client.post("/api/keyframes", json={"frame": 30, "object_id": oid,
                                        "box": box_of(sample.boxes[0])})
    client.post("/api/track", json={"start": 1, "stop": 60})
    _wait_track(client)
    fid = client.get("/api/tables").json()["fixations"][0]["fixation_id"]
    client.post("/api/overrides", json={"fixation_id": fid, "object_id": 0})
    r = client.post("/api/export", json={})
    assert r.status_code == 200, r.text
    out = Path(r.json()["out"])
    assert (out / "manifest.json").is_file() and (out / "report.html").is_file()
    assert len(list((out / "masks").glob("*.png"))) == 60
    studio.project.close()
    rc = main(["annotate", "--project", str(studio.project.root), "--out",
               str(tmp_path / "headless2"), "-q"])
    assert rc == 0
    for name in ("metrics", "fixations", "gaze_samples", "transitions"):
        a = pd.read_csv(out / f"{name}.csv")
        b = pd.read_csv(tmp_path / "headless2" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b)
    fx = pd.read_csv(out / "fixations.csv")
    assert fx.loc[fx.fixation_id == fid, "object_id"].item() == 0
