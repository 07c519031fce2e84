"""The output contract: staged runs, manifests, --force, --resume, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gazevos.errors import GazevosError
from gazevos.io.rundir import (
    MANIFEST,
    fingerprint,
    open_run,
    read_manifest,
    run_folder,
    staging_path,
)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_run_appears_only_when_committed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = open_run(out, "cmd", {"a": 1})
    (run.stage / "x.txt").write_text("new")
    assert not out.exists()  # nothing in place while the run works
    assert read_manifest(run.stage) is None  # staged manifest is incomplete
    assert read_manifest(run.stage, complete_only=False)["complete"] is False
    assert run.commit() == out
    assert (out / "x.txt").read_text() == "new"
    m = read_manifest(out)
    assert m["complete"] is True and m["command"] == "cmd" and m["key"] == {"a": 1}
    assert m["files"] == ["x.txt"]
    assert _hidden(tmp_path) == []  # no stage left


def test_refuses_a_non_empty_folder_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with run_folder(out, "cmd", {"a": 1}) as run:
        (run.stage / "x.txt").write_text("1")
    with pytest.raises(GazevosError, match="not empty; pass --force"):
        open_run(out, "cmd", {"a": 2})
    assert (out / "x.txt").read_text() == "1"


def test_force_replaces_the_whole_previous_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with run_folder(out, "cmd", {"a": 1}) as run:
        (run.stage / "old-only.txt").write_text("stale")
        (run.stage / "both.txt").write_text("old")
    with run_folder(out, "cmd", {"a": 2}, force=True) as run:
        (run.stage / "both.txt").write_text("new")
        # until the new run is complete, the old one is there whole
        assert (out / "old-only.txt").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["both.txt", MANIFEST]
    assert (out / "both.txt").read_text() == "new"
    assert read_manifest(out)["key"] == {"a": 2}
    assert _hidden(tmp_path) == []


def test_force_never_replaces_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(GazevosError, match="holds no gazevos run"):
        open_run(out, "cmd", {}, force=True)
    assert (out / "thesis.docx").read_text() == "precious"


def test_an_empty_existing_folder_is_used(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with run_folder(out, "cmd", {}) as run:
        (run.stage / "x").write_text("1")
    assert (out / "x").is_file()


def test_bad_input_leaves_nothing_and_does_not_block_a_rerun(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(GazevosError), run_folder(out, "cmd", {"a": 1}) as run:
        (run.stage / "half.txt").write_text("half")
        raise GazevosError("bad input")
    assert not out.exists() and _hidden(tmp_path) == []
    with run_folder(out, "cmd", {"a": 1}) as run:  # the same command runs again
        (run.stage / "x").write_text("1")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "x"]


def test_an_interrupted_run_is_kept_for_resume_only_with_the_same_key(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), run_folder(out, "cmd", {"a": 1}) as run:
        (run.stage / "part1").write_text("done")
        raise KeyboardInterrupt
    assert not out.exists()
    assert staging_path(out).is_dir()
    # --resume with the same key continues the stage
    run = open_run(out, "cmd", {"a": 1}, resume=True)
    assert run.resumed and (run.stage / "part1").read_text() == "done"
    # another key (or no --resume) starts afresh: the leftover never blocks
    run = open_run(out, "cmd", {"a": 2}, resume=True)
    assert not run.resumed and not (run.stage / "part1").exists()
    run = open_run(out, "cmd", {"a": 2})
    assert not run.resumed
    run.commit()
    assert read_manifest(out)["key"] == {"a": 2}


def test_hint_about_resume_when_a_partial_run_exists(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with run_folder(out, "cmd", {"a": 1}) as run:
        (run.stage / "x").write_text("1")
    open_run(out, "cmd", {"a": 1}, force=True)  # started, then "killed": stage stays
    with pytest.raises(GazevosError, match="--resume to continue"):
        open_run(out, "cmd", {"a": 1})


def test_keys_compare_as_json(tmp_path: Path) -> None:
    out = tmp_path / "out"
    open_run(out, "cmd", {"t": (1, 2), "p": Path("/x")})
    assert open_run(out, "cmd", {"t": [1, 2], "p": "/x"}, resume=True).resumed


@pytest.mark.parametrize("case", ["file", "under_file", "long_name"])
def test_impossible_output_paths_are_one_line_errors(tmp_path: Path, case: str) -> None:
    f = tmp_path / "file.txt"
    f.write_text("x")
    out = {"file": f, "under_file": f / "sub" / "out",
           "long_name": tmp_path / ("n" * 300)}[case]
    with pytest.raises(GazevosError) as err:
        open_run(out, "cmd", {})
    assert "\n" not in str(err.value)
    assert {"file": "not a folder", "under_file": "under a file",
            "long_name": "longer than 255"}[case] in str(err.value)


def test_a_name_near_the_limit_still_works(tmp_path: Path) -> None:
    out = tmp_path / ("n" * 250)
    with run_folder(out, "cmd", {}) as run:
        (run.stage / "x").write_text("1")
    assert (out / "x").is_file()


def test_an_unwritable_parent_is_a_one_line_error(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)  # as a read-only parent does (root ignores modes)
    with pytest.raises(GazevosError) as err:
        open_run(tmp_path / "out", "cmd", {})
    assert "cannot create the output folder (Permission denied)" in str(err.value)


def test_a_corrupt_manifest_is_not_a_finished_run(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text("{not json")
    assert read_manifest(tmp_path) is None
    (tmp_path / MANIFEST).write_text(json.dumps({"format": 1, "complete": False}))
    assert read_manifest(tmp_path) is None


def test_fingerprint_follows_content_not_names(tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 1000)
    b.write_bytes(b"x" * 1000)
    assert fingerprint(a) == fingerprint(b)
    b.write_bytes(b"x" * 999 + b"y")
    assert fingerprint(a) != fingerprint(b)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(20 << 20))
    before = fingerprint(big)
    with open(big, "r+b") as fh:  # a change in the last bytes of a large file
        fh.seek((20 << 20) - 1)
        fh.write(b"\x01")
    assert fingerprint(big) != before
    d1 = tmp_path / "d1"
    d1.mkdir()
    (d1 / "f").write_bytes(b"1")
    d0 = fingerprint(d1)
    (d1 / ".hidden").write_bytes(b"ignored")
    assert fingerprint(d1) == d0
    (d1 / "g").write_bytes(b"2")
    assert fingerprint(d1) != d0


def test_an_interrupt_says_how_to_continue(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt) as err, run_folder(out, "cmd", {}):
        raise KeyboardInterrupt
    assert str(out) in str(err.value) and "--resume" in str(err.value)


def test_a_command_that_cannot_resume_keeps_nothing_on_interrupt(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt) as err, run_folder(out, "cmd", {}, resumable=False):
        raise KeyboardInterrupt
    assert "--resume" not in str(err.value)
    assert not out.exists() and _hidden(tmp_path) == []
