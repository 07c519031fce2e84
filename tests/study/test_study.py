"""gazevos study: serial and LocalCluster runs agree; skip, rerun, failures, worker loss."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from _study_helpers import assert_same_outputs, write_study

from gazevos.io.rundir import staging_path
from gazevos.study.runner import run_study


def _attempts(out: Path) -> dict[str, list[str]]:
    return {p.stem: p.read_text().splitlines() for p in (out / "logs").glob("*.attempts")}


@pytest.fixture(scope="module")
def serial_run(recordings: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the study run serially, in this process."""
    folder = tmp_path_factory.mktemp("serial")
    study = write_study(folder, recordings)
    res = run_study(study, folder / "out", serial=True, progress=False)
    assert res.status == {"p1": "done", "p2": "done", "p3": "done"}, res.errors
    return folder / "out"


def test_serial_outputs_rerun_skips_and_changed_prompt(recordings: Path, serial_run: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    study = write_study(tmp_path, recordings)
    first = run_study(study, out, serial=True, progress=False)
    assert first.n_done == 3
    assert_same_outputs(out, serial_run)  # deterministic
    # the tables hold the three recordings with their study columns
    m = pd.read_parquet(out / "tables" / "study_aoi_metrics.parquet")
    assert sorted(m["recording"].unique()) == ["p1", "p2", "p3"]
    assert set(m.loc[m["recording"] == "p3", "condition"]) == {"B"}
    reach = pd.read_csv(out / "tables" / "group_reach.csv")
    assert set(reach["participants"]) == {2, 1}
    # group statistics by hand from the per-recording values
    g = pd.read_parquet(out / "tables" / "group_metrics.parquet").set_index(
        ["condition", "object", "mode", "metric"])
    v = m[(m["condition"] == "A") & (m["object"] == "mug") & (m["mode"] == "tolerant")
          & (m["metric"] == "dwell_time")]["value"].to_numpy()
    row = g.loc[("A", "mug", "tolerant", "dwell_time")]
    assert row["n"] == 2 and row["mean"] == pytest.approx(v.mean())
    assert row["sd"] == pytest.approx(abs(v[0] - v[1]) / 2**0.5)
    html = (out / "report.html").read_text()
    assert "recordings/p1/report.html" in html and "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # opens offline
    # a rerun skips everything: no task runs
    mtime = (out / "recordings" / "p1" / "manifest.json").stat().st_mtime_ns
    again = run_study(study, out, serial=True, progress=False)
    assert again.status == {"p1": "skipped", "p2": "skipped", "p3": "skipped"}
    assert (out / "recordings" / "p1" / "manifest.json").stat().st_mtime_ns == mtime
    assert all(len(v) == 1 for v in _attempts(out).values())
    # a changed prompt for one recording reruns that one only
    entries = (f"  - {{path: {recordings}/rec0, participant: p1, condition: A}}\n"
               f"  - {{path: {recordings}/rec1, participant: p2, condition: A,"
               f" points: ['ball:130,40@27']}}\n"
               f"  - {{path: {recordings}/rec2, participant: p3, condition: B}}\n")
    changed = run_study(write_study(tmp_path, recordings, entries=entries), out, serial=True,
                        progress=False)
    assert changed.status == {"p1": "skipped", "p2": "done", "p3": "skipped"}
    summary = json.loads((out / "recordings" / "p2" / "summary.json").read_text())
    assert summary["objects"][2]["point"] == [130.0, 40.0]
    assert {k: len(v) for k, v in _attempts(out).items()} == {"p1": 1, "p2": 2, "p3": 1}
    # a changed gaze setting reruns every recording but reuses their masks
    study_text = study.read_text().replace("video: false", "video: false, tolerance_deg: 2.5")
    study.write_text(study_text)
    tol = run_study(study, out, serial=True, progress=False)
    assert tol.n_done == 3
    summary = json.loads((out / "recordings" / "p1" / "summary.json").read_text())
    assert summary["tracking_resumed"] is True and summary["settings"]["tolerance_deg"] == 2.5


def test_failed_recording_is_reported_and_others_go_on(recordings: Path,
                                                       tmp_path: Path) -> None:
    entries = (f"  - {{path: {recordings}/rec0, participant: p1, condition: A}}\n"
               f"  - {{path: {recordings}/rec1, participant: p2, condition: A,"
               f" boxes: ['mug:150,30,400,65@0']}}\n")
    res = run_study(write_study(tmp_path, recordings, entries=entries), tmp_path / "out",
                    serial=True, progress=False)
    assert res.status == {"p1": "done", "p2": "failed"}
    assert "\n" not in res.errors["p2"] and "mug" in res.errors["p2"]
    assert not (tmp_path / "out" / "recordings" / "p2").exists()  # nothing half-written
    assert not list((tmp_path / "out" / "recordings").glob(".*"))  # no stage left either
    rec = pd.read_csv(tmp_path / "out" / "tables" / "recordings.csv").set_index("recording")
    assert rec.loc["p2", "status"] == "failed" and "mug" in rec.loc["p2", "error"]
    # a task killed between its two folders leaves the AOI tables half-written in a stage
    # (incomplete manifest): not taken as done, the rerun redoes p1 and clears the stage
    aoi = tmp_path / "out" / "aoi" / "p1"
    shutil.rmtree(aoi)
    stage = staging_path(aoi)
    stage.mkdir()
    (stage / "aoi_metrics.csv").write_text("object_id,mode\n1,str")
    (stage / "manifest.json").write_text(json.dumps({"format": 1, "complete": False}))
    again = run_study(write_study(tmp_path, recordings, entries=entries), tmp_path / "out",
                      serial=True, progress=False)
    assert again.status["p1"] == "done"
    assert not stage.exists() and (aoi / "aoi_metrics.csv").read_text() != "object_id,mode\n1,str"


def test_study_level_validation(recordings: Path, serial_run: Path, tmp_path: Path) -> None:
    # p1 coded exactly as gazevos did; p2 with one fixation recoded as "wall"
    codings = {}
    for rid in ("p1", "p2"):
        fx = pd.read_parquet(serial_run / "recordings" / rid / "fixations.parquet")
        fx = fx[fx["hit"] != "invalid"]
        obj = [o if h in ("inside", "near") else "none" for o, h in zip(fx["object"],
                                                                        fx["hit"], strict=True)]
        if rid == "p2":
            obj[0] = "none"
        path = tmp_path / f"{rid}.csv"
        pd.DataFrame({"fixation_id": fx["fixation_id"], "object": obj}).to_csv(path, index=False)
        codings[rid] = path
    entries = (f"  - {{path: {recordings}/rec0, participant: p1, condition: A,"
               f" manual: {codings['p1']}}}\n"
               f"  - {{path: {recordings}/rec1, participant: p2, condition: A,"
               f" manual: {codings['p2']}}}\n")
    study = write_study(tmp_path, recordings, extra="validation: {unit: fixations}\n",
                        entries=entries)
    run_study(study, tmp_path / "out", serial=True, progress=False)
    by = pd.read_csv(tmp_path / "out" / "validation" / "agreement_by_recording.csv")
    by = by.set_index("recording")
    assert by.loc["p1", "cohen_kappa"] == 1.0 and by.loc["p1", "accuracy"] == 1.0
    n2 = by.loc["p2", "n_items"]
    assert by.loc["p2", "accuracy"] == pytest.approx((n2 - 1) / n2)
    pooled = pd.read_csv(tmp_path / "out" / "validation" / "agreement.csv").set_index("metric")
    assert pooled.loc["n_items", "value"] == by["n_items"].sum()
    assert pooled.loc["accuracy", "value"] == pytest.approx(1 - 1 / by["n_items"].sum())
    assert "Agreement with manual coding" in (tmp_path / "out" / "report.html").read_text()


def test_studio_project_recording(recordings: Path, tmp_path: Path) -> None:
    """A recording given as a studio project is exported headless and skipped when unchanged."""
    from gazevos.studio.service import Prompt, add_object, open_studio, set_keyframe

    studio = open_studio(recordings / "rec0", tmp_path / "proj", tracker="flow")
    try:
        mug = add_object(studio, "mug")
        set_keyframe(studio, 0, mug.id, Prompt(box=(18, 30, 46, 65)))
    finally:
        studio.project.close()
    entries = (f"  - {{studio: {tmp_path / 'proj'}, participant: s1, condition: A}}\n"
               f"  - {{path: {recordings}/rec1, participant: p2, condition: B}}\n")
    study = write_study(tmp_path, recordings, entries=entries)
    res = run_study(study, tmp_path / "out", serial=True, progress=False)
    assert res.status == {"s1": "done", "p2": "done"}, res.errors
    m = pd.read_parquet(tmp_path / "out" / "tables" / "study_aoi_metrics.parquet")
    assert set(m.loc[m["recording"] == "s1", "object"]) == {"mug", "(all)"}
    summary = json.loads((tmp_path / "out" / "recordings" / "s1" / "summary.json").read_text())
    assert [o["name"] for o in summary["objects"]] == ["mug"]
    again = run_study(study, tmp_path / "out", serial=True, progress=False)
    assert again.status == {"s1": "skipped", "p2": "skipped"}
    # a new keyframe in the project reruns that recording only
    studio = open_studio(None, tmp_path / "proj")
    try:
        book = add_object(studio, "book")
        set_keyframe(studio, 0, book.id, Prompt(box=(78, 44, 120, 76)))
    finally:
        studio.project.close()
    third = run_study(study, tmp_path / "out", serial=True, progress=False)
    assert third.status == {"s1": "done", "p2": "skipped"}


def test_local_cluster_equals_serial(recordings: Path, serial_run: Path, tmp_path: Path) -> None:
    """Two worker processes; a fourth recording fails there without stopping the others."""
    entries = (f"  - {{path: {recordings}/rec0, participant: p1, condition: A}}\n"
               f"  - {{path: {recordings}/rec1, participant: p2, condition: A}}\n"
               f"  - {{path: {recordings}/rec2, participant: p3, condition: B}}\n"
               f"  - {{path: {recordings}/rec2, participant: bad, condition: B,"
               f" points: ['ball:500,39@27']}}\n")
    res = run_study(write_study(tmp_path, recordings, entries=entries), tmp_path / "out",
                    workers=2, progress=False)
    assert res.status == {"p1": "done", "p2": "done", "p3": "done", "bad": "failed"}
    assert "ball" in res.errors["bad"]
    assert_same_outputs(tmp_path / "out", serial_run)
    pids = {line.split()[2] for v in _attempts(tmp_path / "out").values() for line in v}
    assert str(os.getpid()) not in pids  # the tasks ran in the worker processes


@pytest.mark.slow
def test_worker_killed_mid_task_reruns_elsewhere(recordings: Path, serial_run: Path,
                                                 tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    out = tmp_path / "out"
    study = write_study(tmp_path, recordings)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        pids = {str(p) for p in client.run(os.getpid).values()}
        killed: list[tuple[str, str]] = []

        def kill_when_started() -> None:
            # a task logs its attempt (recording, worker pid) first thing: kill that worker
            # process a moment later, while its task is annotating
            deadline = time.time() + 120
            while time.time() < deadline:
                for rid, lines in _attempts(out).items():
                    pid = lines[0].split()[2] if lines else ""
                    if pid in pids:
                        time.sleep(0.3)
                        os.kill(int(pid), signal.SIGKILL)
                        killed.append((rid, pid))
                        return
                time.sleep(0.02)

        watcher = threading.Thread(target=kill_when_started)
        watcher.start()
        res = run_study(study, out, client=client, progress=False)
        watcher.join()
    assert killed, "no task started"
    assert res.status == {"p1": "done", "p2": "done", "p3": "done"}, res.errors
    rid, pid = killed[0]
    runs = [line.split()[2] for line in _attempts(out)[rid]]
    assert runs[0] == pid and len(runs) == 2 and runs[1] != pid  # rerun in another process
    assert_same_outputs(out, serial_run)
    assert not list((out / "recordings").glob(".*"))
