"""Fuzzing the command line: every command ``gazevos --help`` lists, called in-process through
:func:`gazevos.cli.main` with argument lists drawn from the command's own options (found by
walking the click commands, so a new option is fuzzed without editing this file) and junk.

Values come from pools per option type: paths to a tiny valid world (a generic recording,
its video, a frame folder, masks, a DAVIS folder, presets) and to missing / wrong-kind /
over-long / damaged files; numbers including NaN, infinities, negatives and huge values;
choices and junk words; box / point / mask prompt specs, good and bad; unknown flags.  The
output folder (``--out``, ``import``'s DST) is drawn absent, empty, holding an earlier file,
a file, under a file, or with an over-long name.

The only acceptable outcomes (:func:`_fuzz.cli_outcome`): exit 0, or exit 2 with exactly one
``gazevos: error:`` line on stderr (``gazevos: warning:`` lines allowed) -- never a
traceback, "internal error", another exit code, or a hang (pytest-timeout); and after a
failed run the output folder is absent or exactly as it was before.

Not drawn, to keep a run short and finite: the ``ranet`` tracker (it fine-tunes itself for
about 90 s per object), a valid recording for ``studio`` (it would serve until stopped), a
valid study file for ``study``; training commands always get ``--chunk-steps 1`` and a short
``--time-limit``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest
from _fuzz import LEVELS, builders, cli_outcome, count, fuzz_settings, snapshot
from hypothesis import given
from hypothesis import strategies as st

from gazevos.cli import cli, main
from gazevos.io import write_mask

pytestmark = pytest.mark.timeout(900)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    """Every leaf command of the CLI, by its space-joined path (``davis run``)."""
    out: dict[str, click.Command] = {}
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out.update(_commands(cmd, (*prefix, name)))
        else:
            out[" ".join((*prefix, name))] = cmd
    return out


COMMANDS = _commands(cli)
TRAINING = {"train mast", "train ranet", "train semseg", "adapt semseg"}
#: options never drawn for a command (forced or unsafe; see the module docstring)
NOT_DRAWN = {name: {"chunk_steps", "time_limit"} for name in TRAINING}
OVERLONG = "n" * 300


def _write_world(root: Path) -> None:
    """The tiny valid inputs every drawn path may point at (paths relative to ``root``)."""
    rec = root / "rec"
    rec.mkdir(parents=True)
    rows = "".join(f"{i * 0.05:.3f},{5 + 2 * i},{40 - i},0.9\n" for i in range(24))
    (rec / "gaze.csv").write_text("timestamp,x,y,confidence\n" + rows)
    builders.write_video(rec / "scene.mp4")
    labels = np.zeros((48, 64), np.uint8)
    labels[10:30, 10:40] = 1
    labels[32:44, 44:60] = 2
    write_mask(root / "mask.png", labels)
    write_mask(root / "empty_mask.png", np.zeros((48, 64), np.uint8))
    write_mask(root / "small_mask.png", labels[:20, :30])
    frames = root / "frames"
    seq = root / "davis" / "JPEGImages" / "480p" / "seq1"
    ann = root / "davis" / "Annotations" / "480p" / "seq1"
    for d in (frames, seq, ann, root / "results" / "seq1"):
        d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    from PIL import Image

    for i in range(4):
        img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        img[10 + i:30 + i, 10:40] = (200, 40, 40)
        Image.fromarray(img).save(frames / f"{i:05d}.png")
        Image.fromarray(img).save(seq / f"{i:05d}.jpg")
        write_mask(ann / f"{i:05d}.png", (labels == 1).astype(np.uint8))
        write_mask(root / "results" / "seq1" / f"{i:05d}.png", (labels == 1).astype(np.uint8))
    (root / "seqs.txt").write_text("seq1\n")
    (root / "preset.yaml").write_text("{}\n")
    (root / "junk.yaml").write_text("a: [1, 2\n")
    (root / "wrong.yaml").write_text("steps: ten\nlr: .nan\n")
    (root / "junk.bin").write_bytes(bytes(range(256)) * 4)
    (root / "empty.csv").write_text("")
    (root / "manual.csv").write_text("start,end,object\n0.0,0.5,a\n0.5,1.0,b\n")
    (root / "study.yaml").write_text("recordings: 3\n")
    (root / "a_file").write_text("not a folder\n")
    # an annotate output folder, for validate (and the manual coding's objects a, b)
    old_cwd = os.getcwd()
    os.chdir(root)
    try:
        rc = main(["annotate", "rec", "--box", "a:10,10,40,30@0", "--box", "b:44,32,60,44@0",
                   "--out", "annotated", "--tracker", "flow", "--no-video", "-q"])
    finally:
        os.chdir(old_cwd)
    assert rc == 0


GOOD_PATHS = {
    "recording": ["rec", "rec/gaze.csv"], "frames": ["rec/scene.mp4", "frames"],
    "mask_path": ["mask.png"], "root": ["davis"], "results": ["results"],
    "sequences_file": ["seqs.txt"], "val_file": ["seqs.txt"], "inputs": ["rec/scene.mp4"],
    "data": ["davis"], "targets": ["rec/scene.mp4", "frames"], "config": ["preset.yaml"],
    "manual": ["manual.csv"], "validate:results": ["annotated"], "project_dir": ["project"],
    "src": ["rec"], "study_file": ["study.yaml"],
}
BAD_PATHS = ["missing", "missing/deeper", "", OVERLONG, f"rec/{OVERLONG}.mp4", "a_file",
             "a_file/below", "junk.bin", "empty.csv", "junk.yaml", "wrong.yaml", "mask.png",
             "rec", "rec/scene.mp4", "frames", "davis", "/dev/null", ".", "-"]
#: paths of the world that are valid recordings (``studio`` would serve them until stopped)
RECORDINGS = {"rec", "rec/gaze.csv"}
FLOATS = ["nan", "NaN", "inf", "-inf", "-1", "0", "0.5", "1", "1.5", "1e308", "-1e308",
          "1e-300", "abc", "", "1,5", "0x10"]
INTS = ["0", "1", "2", "-5", "99999999999999999999", "x", "", "1.5", "3", "-0"]
TRACKERS = ["copy", "flow", "classic", "mast", "nope", "", "CLASSIC"]
STRINGS = {
    "boxes": ["a:10,10,40,30@0", "b:44,32,60,44@5", "a:10,10,40,30@99", "a:0,0,64,48",
              "a:30,30,10,10", "a:-5,-5,10,10", "a:1,1,2,2@0", "a:10,10,40,30@-1", "junk",
              "a:1e400,0,2e400,5", ":1,2,3,4", "a:10,10,40,30@0"],
    "points": ["p:20,20@3", "p:0,0", "p:63,47@11", "p:64,48", "p:20,20@99", "p:-1,5",
               "p:nan,3", "p:1,2,3", "p"],
    "objects": ["mask.png@0", "mask.png", "mask.png@11", "mask.png@99", "empty_mask.png@0",
                "small_mask.png@0", "junk.bin@0", "missing.png@0", "mask.png@x", "@"],
    "names": ["1=cup", "1=cup,2=ball", "1=a,1=b", "9=zzz", "x", "=", "1=,2=b"],
    "tracker": TRACKERS, "recording_format": ["generic", "pupil_core", "nope", ""],
    "resolution": ["96x54", "97x55", "128x72", "0x0", "100000x100000", "axb", "96X54", "480p",
                   "nope", ""],
    "arch": ["w48", "w18-small-v1", "small", "nope", ""],
    "sequences": ["seq1", "seq1 nope", "nope", "", ","], "skip": ["background", "nope"],
    "scheduler": ["tcp://127.0.0.1:1", "nope"], "name_map": ["a=cup", "x", "="],
    "device": ["tobii-g3", "pupil-core", "nope"],
}
JUNK = st.sampled_from(["--bogus", "-x", "--out", "--force", "--help", "--", "-", "--=", "-h"])


#: valid-looking values by option name or type (the rest of the pools are junk)
VALID = {"float": ["0.5", "1", "1.5", "2", "0"], "int": ["1", "2", "3", "0"],
         "steps": ["1", "2"], "workers": ["1"], "port": ["0"], "seconds": ["1", "1.5"],
         "scale": ["0.5", "1"], "size": ["32", "48"], "resolution": ["96x54", "128x72"],
         "tracker": ["copy", "flow", "classic"], "recording_format": ["generic"],
         "sequences": ["seq1"], "device": ["tobii-g3"], "arch": ["small"]}


def _pools(cmd_name: str, param: click.Parameter
           ) -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
    """(valid-looking values, junk values) of one parameter."""
    name = param.name or ""
    ptype = param.type
    junk: st.SearchStrategy[str]
    if isinstance(ptype, click.Path):
        good = GOOD_PATHS.get(f"{cmd_name}:{name}", GOOD_PATHS.get(name, []))
        if cmd_name == "studio" and name == "recording":
            good = []  # a valid recording would start the server
        bad = BAD_PATHS
        if cmd_name == "studio" and name == "recording":
            bad = [b for b in bad if b not in RECORDINGS]
        junk = st.sampled_from(bad)
        return (st.sampled_from(good) if good else junk), junk
    if isinstance(ptype, click.Choice):
        choices = [str(c) for c in ptype.choices]
        return st.sampled_from(choices), st.sampled_from(["nope", "", choices[0].upper()])
    if name in STRINGS:
        good = VALID.get(name, STRINGS[name][:2])
        return st.sampled_from(good), st.sampled_from(STRINGS[name]) | st.text(max_size=12)
    kind = ("float" if isinstance(ptype, (click.types.FloatParamType, click.FloatRange))
            or "float" in ptype.name.lower() else
            "int" if isinstance(ptype, (click.types.IntParamType, click.IntRange)) else "str")
    good = VALID.get(name, VALID.get(kind, ["x"]))
    junk = st.sampled_from(FLOATS if kind == "float" else INTS if kind == "int"
                           else FLOATS + INTS) | st.text(max_size=12)
    return st.sampled_from(good), junk


@st.composite
def _values(draw: st.DrawFn, cmd_name: str, param: click.Parameter) -> list[str]:
    """Drawn command-line words for one parameter (the option name included); a value is
    junk one time in eight, valid-looking otherwise."""
    good, junk = _pools(cmd_name, param)
    nargs = param.nargs if param.nargs > 0 else 1
    words = [draw(junk if draw(st.integers(0, 7)) == 0 else good) for _ in range(nargs)]
    if isinstance(param, click.Argument):
        return words
    if getattr(param, "is_flag", False):
        return [param.opts[0]]
    return [param.opts[0], *words]


@dataclass
class Case:
    """One drawn command line and where its output folder is."""

    argv: list[str]
    out: str | None
    out_state: str


OUT_STATES = ["absent", "empty", "earlier_run", "a_file", "under_a_file", "overlong"]


@st.composite
def command_lines(draw: st.DrawFn, cmd_name: str) -> Case:
    """A command line for ``cmd_name``: each option kept with some probability (required
    ones almost always), values from the pools above, maybe a junk word."""
    cmd = COMMANDS[cmd_name]
    words: list[str] = list(cmd_name.split())
    if cmd_name == "demo":  # small and short unless drawn otherwise (the last value wins)
        words += ["--seconds", "1", "--resolution", "96x54"]
    positional: list[str] = []
    out, out_state = None, draw(st.sampled_from(OUT_STATES))
    out_path = {"absent": "out", "empty": "out", "earlier_run": "out", "a_file": "a_file",
                "under_a_file": "a_file/out", "overlong": OVERLONG}[out_state]
    for param in cmd.params:
        if param.name in NOT_DRAWN.get(cmd_name, set()) or param.name == "help":
            continue
        keep = isinstance(param, click.Argument) or \
            draw(st.integers(0, 19)) < (19 if param.required else 6)
        is_out = param.name in ("out_dir", "dst")
        if is_out:
            keep = draw(st.integers(0, 19)) < 19
            if keep:
                out = out_path
                if isinstance(param, click.Argument):
                    positional.append(out_path)
                else:
                    words += [param.opts[0], out_path]
            continue
        if not keep:
            continue
        times = draw(st.integers(1, 2)) if getattr(param, "multiple", False) else 1
        for _ in range(times):
            got = draw(_values(cmd_name, param))
            if isinstance(param, click.Argument):
                positional += got
            else:
                words += got
    words += positional
    if cmd_name in TRAINING:
        words += ["--chunk-steps", "1", "--time-limit", "0.02", "--no-progress"]
    if cmd_name in ("annotate", "demo"):
        words += ["-q"]
    if draw(st.integers(0, 9)) == 0:
        words.insert(draw(st.integers(1, len(words))), draw(JUNK))
    return Case(words, out, out_state)


def _prepare_out(root: Path, case: Case) -> None:
    if case.out_state in ("empty", "earlier_run"):
        (root / "out").mkdir()
    if case.out_state == "earlier_run":
        (root / "out" / "keep.txt").write_text("an earlier run's file\n")


#: a tqdm progress line (``12frame [00:00, 20.9frame/s]``, ``?frame/s``, ``40%|####``)
_PROGRESS = re.compile(r"(\d+(\.\d+)?|\?)(it|frame|step|seq)s?/s|\d+%\|")


def run_case(case: Case, world: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run one drawn command line in a fresh copy of the world; check the contract; return
    the outcome (``ok`` or ``error``)."""
    old_cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "w"
        shutil.copytree(world, root)
        _prepare_out(root, case)
        os.chdir(root)
        try:
            before = None if case.out is None else snapshot(root / case.out)
            capsys.readouterr()
            rc = main(list(case.argv))
            captured = capsys.readouterr()
            err = "\n".join(ln for ln in captured.err.replace("\r", "\n").splitlines()
                            if not _PROGRESS.search(ln))
            outcome = cli_outcome(rc, err)
            if rc != 0 and case.out is not None and case.out != OVERLONG:
                after = snapshot(root / case.out)
                assert after == before, (f"failed run changed its output folder {case.out}: "
                                         f"{before} -> {after}\n{err}")
        finally:
            os.chdir(old_cwd)
    return outcome


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pristine inputs (copied for every generated case)."""
    root = tmp_path_factory.mktemp("cli") / "w"
    _write_world(root)
    return root


@pytest.mark.parametrize("long", LEVELS)
@pytest.mark.parametrize("cmd_name", sorted(COMMANDS))
def test_command_line_succeeds_or_fails_in_one_line(world: Path, cmd_name: str, long: bool,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Drawn command lines of one command keep the CLI's error contract."""
    @fuzz_settings(long, ci=8)
    @given(case=command_lines(cmd_name))
    def check(case: Case) -> None:
        outcome = run_case(case, world, capsys)
        count(f"cli/{cmd_name} ({outcome})")

    check()


def test_good_command_lines_succeed(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The fuzzing's world is usable: hand-written valid lines of the main commands exit 0
    (so the fuzz tests also reach the success paths)."""
    for argv in (["annotate", "rec", "--box", "a:10,10,40,30@0", "--out", "out",
                  "--tracker", "flow", "--no-video", "-q"],
                 ["propagate", "frames", "--mask", "mask.png", "--out", "out",
                  "--tracker", "copy"],
                 ["davis", "run", "--root", "davis", "--tracker", "copy", "--out", "out"],
                 ["davis", "eval", "--root", "davis", "--results", "results",
                  "--workers", "1"]):
        case = Case(argv, "out", "absent")
        assert run_case(case, world, capsys) == "ok", argv


@pytest.mark.parametrize("argv", [
    ["annotate", "rec", "--bogus", "x"],
    ["demo", "--seconds", "nan"],
    ["propagate", "frames", "--out", "o"],
    ["davis", "eval", "--root", "davis", "--results", "results", "--workers", "0"],
], ids=["unknown-option", "bad-value", "missing-option", "out-of-range"])
def test_usage_errors_are_one_gazevos_error_line(world: Path, argv: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Usage errors keep the same one-line contract as every other error (click printed
    four lines -- 'Usage:', 'Try ...', '', 'Error: ...' -- until commit 9c827b2)."""
    assert run_case(Case(argv, "o", "absent"), world, capsys) == "error"


@pytest.mark.parametrize("study", ["junk.bin", "mask.png"])
def test_binary_study_file_is_a_one_line_error(world: Path, study: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Found by the fuzzing above: ``gazevos study --serial junk.bin --out out`` ('internal
    error: UnicodeDecodeError' out of study/schema.py until the study owner's fix)."""
    case = Case(["study", "--out", "out", "--serial", "-q", study], "out", "absent")
    assert run_case(case, world, capsys) == "error"


@pytest.mark.parametrize("argv", [
    ["propagate", "frames", "--mask", "mask.png", "--out", "out", "--config", "junk.bin"],
    ["train", "ranet", "--root", "davis", "--sequences-file", "seqs.txt", "--out", "out",
     "--config", "mask.png", "--chunk-steps", "1"],
], ids=["propagate", "train-ranet"])
def test_binary_config_file_is_a_one_line_error(world: Path, argv: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Found by the fuzzing above (``train ranet ... --config mask.png``): 'internal error:
    UnicodeDecodeError' until commit 2d4eb9d (config.py)."""
    assert run_case(Case(argv, "out", "absent"), world, capsys) == "error"


@pytest.mark.parametrize(("rc", "err"), [
    (1, "gazevos: error: internal error: ValueError: x (set GAZEVOS_DEBUG=1 for a traceback)"),
    (2, "Traceback (most recent call last):\n  File x\nValueError: x"),
    (2, "gazevos: error: one\ngazevos: error: two"),
    (2, "Usage: gazevos x\nTry 'gazevos x --help' for help.\n\nError: No such option"),
    (1, "gazevos: error: a one-line error with the wrong exit code"),
    (2, ""),
    (0, "gazevos: error: an error line after success"),
], ids=["internal", "traceback", "two-lines", "click-usage", "exit-1", "silent", "ok-error"])
def test_contract_check_rejects_what_the_issue_forbids(rc: int, err: str) -> None:
    """The checker the CLI fuzzing relies on fails on each forbidden outcome."""
    with pytest.raises(AssertionError):
        cli_outcome(rc, err)


def test_contract_check_accepts_one_line_and_warnings() -> None:
    assert cli_outcome(2, "gazevos: warning: few samples\ngazevos: error: x: bad") == "error"
    assert cli_outcome(0, "gazevos: warning: few samples\n") == "ok"


def test_snapshot_sees_a_changed_or_added_file(tmp_path: Path) -> None:
    """The before/after comparison of an output folder notices new and rewritten files."""
    (tmp_path / "keep.txt").write_text("a")
    before = snapshot(tmp_path)
    (tmp_path / "new.png").write_bytes(b"x")
    assert snapshot(tmp_path) != before
    (tmp_path / "new.png").unlink()
    assert snapshot(tmp_path) == before
    (tmp_path / "keep.txt").write_text("ab")
    assert snapshot(tmp_path) != before
    assert snapshot(tmp_path / "absent") is None
