"""Fuzzing the recording readers: a small valid recording of each format, damaged.

Damage is drawn by Hypothesis: random bytes, truncation, empty or deleted files, shuffled /
duplicated / reversed rows (non-monotonic and duplicate timestamps), junk cells (NaN, inf,
1e400, text, huge integers), dropped / renamed / extra columns, ragged rows, other
separators and line endings, other text encodings (UTF-16, Latin-1, a BOM); for Tobii's
``gazedata.gz`` damaged JSON lines, for JSON side files random JSON values, for Pupil's
``world_timestamps.npy`` arrays of any dtype and shape.

The property: :func:`read_recording` (format detection) and the format's own reader either
return a :class:`Recording` that keeps its documented invariants, or raise a one-line
:class:`GazevosError`.  Any other exception is a bug.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import msgpack
import numpy as np
import pytest
from _fuzz import LEVELS, builders, count, fuzz_settings, library_outcome
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gazevos.io.recordings import GAZE_COLUMNS, Recording, read_recording
from gazevos.io.recordings.detect import FORMATS

# a RuntimeWarning (invalid value in a cast, overflow) means a silently wrong number: a bug
pytestmark = [pytest.mark.timeout(300), pytest.mark.filterwarnings("error::RuntimeWarning")]


def _write_generic(folder: Path) -> None:
    folder.mkdir(parents=True)
    rows = "".join(f"{i * 0.1:.3f},{5 + 4 * i},{40 - 3 * i},{0.5 + i / 40:.3f}\n"
                   for i in range(12))
    (folder / "gaze.csv").write_text("timestamp,x,y,confidence\n" + rows)
    builders.write_video(folder / "scene.mp4")


#: format -> (builder, text tables (relative path -> separator), JSON files, other files)
LAYOUTS: dict[str, tuple[Callable[[Path], object], dict[str, str], list[str], list[str]]] = {
    "generic": (_write_generic, {"gaze.csv": ","}, [], ["scene.mp4"]),
    "pupil_core": (lambda f: builders.write_pupil_core(f, video=True),
                   {"exports/000/gaze_positions.csv": ",",
                    "exports/000/world_timestamps.csv": ",", "exports/000/fixations.csv": ","},
                   [], ["world.intrinsics", "exports/000/world.mp4"]),
    "neon": (builders.write_neon_cloud,
             {"gaze.csv": ",", "world_timestamps.csv": ",", "fixations.csv": ","},
             ["info.json", "scene_camera.json"], ["2024-01-01_12-00-00-abcd.mp4"]),
    "tobii_g3": (builders.write_tobii_g3, {}, ["recording.g3"],
                 ["gazedata.gz", "scenevideo.mp4"]),
    "glassestools": (builders.write_glassestools,
                     {"gazeData.tsv": "\t", "frameTimestamps.tsv": "\t"},
                     ["recording_info.json"], ["calibration.xml", "worldCamera.mp4"]),
}

JUNK_CELLS = ["", " ", "nan", "NaN", "inf", "-inf", "1e309", "-1e400", "abc", "0x10", "1,5",
              "None", "9" * 30, "-9" * 20, "-0", "true", "é", "\x00", "1e-400", "+", "--1",
              "1.2.3", "١٢", "9223372036854775808", "-9223372036854775809"]
ENCODINGS = ["utf-16", "utf-8-sig", "latin-1", "cp1252", "utf-32"]

cells = st.one_of(st.sampled_from(JUNK_CELLS), st.text(max_size=12),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr),
                  st.integers(min_value=-(10 ** 25), max_value=10 ** 25).map(str))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10 ** 400), max_value=10 ** 400)
    | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8)


def _damage_table(raw: bytes, sep: str, data: st.DataObject) -> bytes | None:
    """One drawn damage of a text table; None deletes the file."""
    lines = raw.decode("utf-8").splitlines()
    header, rows = lines[0].split(sep), [r.split(sep) for r in lines[1:]]
    op = data.draw(st.sampled_from([
        "shuffle", "reverse", "duplicate", "cell", "column", "drop_column", "rename_column",
        "drop_header", "header_only", "ragged", "junk_line", "truncate", "random_bytes",
        "empty", "encoding", "separator", "line_endings", "delete"]), label="table op")
    if op == "delete":
        return None
    if op == "empty":
        return b""
    if op == "random_bytes":
        return data.draw(st.binary(max_size=300), label="bytes")
    if op == "truncate":
        return raw[:data.draw(st.integers(0, max(0, len(raw) - 1)), label="cut")]
    if op == "shuffle" and rows:
        rows = data.draw(st.permutations(rows), label="rows")
    elif op == "reverse":
        rows = rows[::-1]
    elif op == "duplicate" and rows:
        picks = data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=4))
        rows = rows + [list(rows[i]) for i in picks]
    elif op == "cell" and rows:
        for _ in range(data.draw(st.integers(1, 4), label="n cells")):
            r = data.draw(st.integers(0, len(rows) - 1), label="row")
            c = data.draw(st.integers(0, len(rows[r]) - 1), label="col")
            rows[r][c] = data.draw(cells, label="cell")
    elif op == "column" and rows:
        c = data.draw(st.integers(0, len(header) - 1), label="col")
        value = data.draw(cells, label="cell")
        for r in rows:
            if c < len(r):
                r[c] = value
    elif op == "drop_column":
        c = data.draw(st.integers(0, len(header) - 1), label="col")
        header = header[:c] + header[c + 1:]
        rows = [r[:c] + r[c + 1:] for r in rows]
    elif op == "rename_column":
        c = data.draw(st.integers(0, len(header) - 1), label="col")
        header[c] = data.draw(st.sampled_from(["", header[c].upper(), header[(c + 1) % len(
            header)], f" {header[c]} "]) | st.text(max_size=10), label="name")
    elif op == "drop_header":
        header = []
    elif op == "header_only":
        rows = []
    elif op == "ragged" and rows:
        r = data.draw(st.integers(0, len(rows) - 1), label="row")
        n = data.draw(st.integers(0, len(rows[r]) + 3), label="fields")
        rows[r] = (rows[r] + ["7"] * 4)[:n]
    elif op == "junk_line":
        at = data.draw(st.integers(0, len(rows)), label="at")
        rows.insert(at, [data.draw(st.text(max_size=30), label="line")])
    out_lines = ([sep.join(header)] if header else []) + [sep.join(r) for r in rows]
    text = "\n".join(out_lines) + "\n"
    if op == "separator":
        text = text.replace(sep, data.draw(st.sampled_from([",", ";", "\t", "|", " ", ""])))
    if op == "line_endings":
        text = text.replace("\n", data.draw(st.sampled_from(["\r\n", "\r", "\n\n"])))
    if op == "encoding":
        text = text.replace("1", "é", 1)
        return text.encode(data.draw(st.sampled_from(ENCODINGS), label="encoding"),
                           errors="replace")
    return text.encode("utf-8", errors="surrogatepass")


def _damage_gazedata(raw: bytes, data: st.DataObject) -> bytes:
    """Damage the JSON lines inside ``gazedata.gz`` and compress them again."""
    try:
        lines = gzip.decompress(raw).decode("utf-8").splitlines()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):  # damaged already
        return _damage_binary(raw, data) or b""
    if not lines:
        lines = ["{}"]
    op = data.draw(st.sampled_from(["shuffle", "duplicate", "value", "junk_line", "cut_line",
                                    "no_lines"]), label="gaze op")
    if op == "shuffle":
        lines = data.draw(st.permutations(lines))
    elif op == "duplicate":
        lines = lines + lines[: data.draw(st.integers(1, len(lines)))]
    elif op == "value":
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        try:
            obj = json.loads(lines[i])
        except ValueError:  # a line damaged by an earlier draw
            obj = {}
        obj = obj if isinstance(obj, dict) else {}
        key = data.draw(st.sampled_from(["timestamp", "data", "type", "gaze2d"]), label="key")
        value = data.draw(json_values, label="value")
        if key == "gaze2d":
            obj["data"] = {"gaze2d": value}
        else:
            obj[key] = value
        lines[i] = json.dumps(obj)
    elif op == "junk_line":
        lines.insert(data.draw(st.integers(0, len(lines))), data.draw(st.text(max_size=20)))
    elif op == "cut_line":
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        lines[i] = lines[i][: data.draw(st.integers(0, max(0, len(lines[i]) - 1)))]
    else:
        lines = []
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass"))


def _damage_binary(raw: bytes, data: st.DataObject) -> bytes | None:
    """Random bytes, truncation, flipped bytes, empty or deleted (None)."""
    op = data.draw(st.sampled_from(["random_bytes", "truncate", "flip", "empty", "delete"]),
                   label="file op")
    if op == "delete":
        return None
    if op == "empty":
        return b""
    if op == "random_bytes":
        return data.draw(st.binary(max_size=400), label="bytes")
    if op == "truncate":
        return raw[:data.draw(st.integers(0, max(0, len(raw) - 1)), label="cut")]
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8), label="n flips")):
        i = data.draw(st.integers(0, max(0, len(buf) - 1)), label="at")
        if buf:
            buf[i] ^= data.draw(st.integers(1, 255), label="xor")
    return bytes(buf)


def _damage_special(folder: Path, name: str, raw: bytes | None, data: st.DataObject
                    ) -> bytes | None:
    """Format-aware damage of the non-table files (JSON, gzip JSON lines, msgpack, npy)."""
    if name == "gazedata.gz" and raw is not None and data.draw(st.booleans(), label="lines"):
        return _damage_gazedata(raw, data)
    if name.endswith((".json", ".g3")) and data.draw(st.booleans(), label="json"):
        try:
            obj = json.loads(raw) if raw is not None else None
        except ValueError:  # damaged already
            obj = None
        if isinstance(obj, dict) and data.draw(st.booleans(), label="edit"):
            path = data.draw(st.lists(st.sampled_from(
                ["scenecamera", "camera-calibration", "gaze", "file", "focal-length",
                 "resolution", "principal-point", "camera_matrix", "distortion_coefficients",
                 "scene_video_file", "source_directory"]), min_size=1, max_size=3))
            node = obj
            for key in path[:-1]:
                if not isinstance(node, dict):
                    break
                node = node.setdefault(key, {})
            if isinstance(node, dict):
                node[path[-1]] = data.draw(json_values, label="value")
            return json.dumps(obj).encode()
        return json.dumps(data.draw(json_values, label="json")).encode()
    if name == "world.intrinsics" and data.draw(st.booleans(), label="msgpack"):
        key = data.draw(st.sampled_from(["(64, 48)", "(0, 0)", "(99999999999, 1)", "x"]))
        value = data.draw(json_values | st.fixed_dictionaries(
            {"camera_matrix": json_values, "dist_coefs": json_values,
             "cam_type": st.sampled_from(["radial", "fisheye", "x"])}), label="entry")
        try:
            return msgpack.packb({key: value, "version": 1})
        except (OverflowError, ValueError):  # msgpack cannot hold >64-bit integers
            return msgpack.packb({key: None})
    if raw is None:
        return None
    return _damage_binary(raw, data)


npy_arrays = st.one_of(
    hnp.arrays(st.sampled_from(["<f8", "<f4", "<i8", "u1", "<c16", "?", "<M8[s]", "<U3"]),
               hnp.array_shapes(min_dims=0, max_dims=3, max_side=14)),
    st.just(np.arange(12, dtype="<f8")[::-1] + 100.0))


def check_recording(rec: Recording) -> None:
    """The documented invariants of a :class:`Recording`."""
    assert isinstance(rec, Recording)
    assert tuple(rec.gaze.columns) == GAZE_COLUMNS
    t = rec.gaze["time"].to_numpy()
    assert t.dtype == np.float64 and np.isfinite(t).all()
    assert (np.diff(t) >= 0).all()
    for col in ("x", "y", "confidence"):
        assert rec.gaze[col].to_numpy().dtype == np.float64
    ft = rec.frame_times
    assert isinstance(ft, np.ndarray) and ft.ndim == 1 and ft.dtype == np.float64
    assert np.isfinite(ft).all() and (np.diff(ft) >= 0).all()
    w, h = rec.resolution
    assert isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0
    if rec.intrinsics is not None:
        assert rec.intrinsics.camera_matrix.shape == (3, 3)
        assert rec.intrinsics.resolution == rec.resolution
    if rec.fixations is not None:
        assert list(rec.fixations.columns) == ["fixation_id", "start", "end", "x", "y"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One valid recording of each format (copied before each generated case)."""
    root = tmp_path_factory.mktemp("pristine")
    out = {}
    for name, (build, *_rest) in LAYOUTS.items():
        build(root / name)
        out[name] = root / name
    return out


def test_pristine_recordings_read(pristine: dict[str, Path]) -> None:
    """Undamaged, every builder's recording reads as its own format (the baseline)."""
    for name, folder in pristine.items():
        rec = read_recording(folder)
        assert rec.format == name
        check_recording(rec)
        assert len(rec.gaze) >= 3 and len(rec.frame_times) == 12


@pytest.mark.parametrize("long", LEVELS)
@pytest.mark.parametrize("fmt", list(LAYOUTS))
def test_damaged_recording_reads_or_fails_in_one_line(pristine: dict[str, Path], fmt: str,
                                                      long: bool) -> None:
    """One to three drawn damages to the files of a valid recording; the format's reader and
    :func:`read_recording` either read it (invariants kept) or fail in one line."""
    _build, tables, jsons, others = LAYOUTS[fmt]
    files = list(tables) + jsons + others + (["exports/000/world_timestamps.npy"]
                                             if fmt == "pupil_core" else [])

    @fuzz_settings(long, ci=40)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        count(f"recordings/{fmt}")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / fmt
            shutil.copytree(pristine[fmt], folder)
            n = data.draw(st.integers(1, 3), label="n damages")
            for name in data.draw(st.lists(st.sampled_from(files), min_size=n, max_size=n),
                                  label="files"):
                path = folder / name
                raw = path.read_bytes() if path.is_file() else None
                if name.endswith(".npy"):
                    buf = io.BytesIO()
                    np.save(buf, data.draw(npy_arrays, label="npy"), allow_pickle=False)
                    new: bytes | None = buf.getvalue()
                elif name in tables and raw is not None:
                    try:
                        ok = bool(raw.decode("utf-8").splitlines())
                    except UnicodeDecodeError:
                        ok = False
                    # a table damaged by an earlier draw gets byte-level damage
                    new = (_damage_table(raw, tables[name], data) if ok
                           else _damage_binary(raw, data))
                else:
                    new = _damage_special(folder, Path(name).name, raw, data)
                if new is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(new)
            for result in (library_outcome(read_recording, folder),
                           library_outcome(FORMATS[fmt].reader, folder)):
                if isinstance(result, Recording):
                    check_recording(result)

    check()


@pytest.mark.parametrize("long", LEVELS)
def test_reader_options_are_checked(pristine: dict[str, Path], long: bool) -> None:
    """Drawn reader options (resolution, time unit and offset, coords, video) on valid
    recordings: a valid :class:`Recording` or a one-line error."""
    ints = st.integers(-5, 10 ** 12) | st.sampled_from([0, 1, 64])

    @fuzz_settings(long, ci=30)
    @given(fmt=st.sampled_from(list(LAYOUTS)),
           resolution=st.none() | st.tuples(ints, ints),
           time_unit=st.none() | st.sampled_from(["s", "ms", "us", "ns", "h", ""]),
           time_offset=st.none() | st.floats(allow_nan=True, allow_infinity=True),
           coords=st.none() | st.sampled_from(["auto", "px", "norm", "PX"]),
           video=st.none() | st.sampled_from(["scene.mp4", "missing.mp4", "gaze.csv", ""]))
    def check(fmt: str, resolution: tuple[int, int] | None, time_unit: str | None,
              time_offset: float | None, coords: str | None, video: str | None) -> None:
        count("recordings/options")
        result = library_outcome(read_recording, pristine[fmt], resolution=resolution,
                                 time_unit=time_unit, time_offset=time_offset,
                                 coords=coords, video=video)
        if isinstance(result, Recording):
            check_recording(result)

    check()


@pytest.mark.parametrize("long", LEVELS)
def test_any_single_file_is_read_or_refused(long: bool) -> None:
    """A lone file of random bytes (or random text) under each name a reader recognises,
    given as the recording path: read or a one-line error."""
    names = ["gaze.csv", "gaze.tsv", "gaze.txt", "gaze_positions.csv", "gazedata.gz",
             "gazeData.tsv", "x.mp4", "noext", "gaze.CSV"]

    @fuzz_settings(long, ci=40)
    @given(name=st.sampled_from(names),
           content=st.binary(max_size=200) | st.text(max_size=200).map(
               lambda s: s.encode("utf-8", errors="surrogatepass")) | st.sampled_from(
               [b"timestamp,x,y\n", b"timestamp,x,y\n1,2,3\n", b"time\tx\ty\nnan\t1\t2\n",
                b"\xff\xfet\x00i\x00m\x00e\x00", b"timestamp;x;y\n1;2;3\n0;1;1\n"]))
    def check(name: str, content: bytes) -> None:
        count("recordings/single-file")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(content)
            for arg in (path, Path(tmp)):
                result = library_outcome(read_recording, arg)
                if isinstance(result, Recording):
                    check_recording(result)

    check()


def test_overlong_and_odd_paths_are_one_line_errors(tmp_path: Path) -> None:
    """A file name past the system limit, a path under a file, a NUL byte: one-line errors
    (each raised OSError or ValueError out of ``Path.exists`` before the fix)."""
    (tmp_path / "file").write_text("x")
    for bad in ["x" * 5000, tmp_path / ("y" * 300), tmp_path / "file" / "below",
                "a\x00b", tmp_path / ("z" * 300) / "gaze.csv"]:
        result = library_outcome(read_recording, bad)
        assert not isinstance(result, Recording)


def _set_cell(path: Path, row: int, col: str, value: str, sep: str = ",") -> None:
    lines = path.read_text().splitlines()
    header = lines[0].split(sep)
    cells = lines[row + 1].split(sep)
    cells[header.index(col)] = value
    lines[row + 1] = sep.join(cells)
    path.write_text("\n".join(lines) + "\n")


def _gazedata(folder: Path, obj: dict) -> None:
    with gzip.open(folder / "gazedata.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"type": "gaze", "timestamp": 0.1,
                             "data": {"gaze2d": [0.5, 0.5]}}) + "\n" + json.dumps(obj) + "\n")


def _g3_calibration(folder: Path, **changes: object) -> None:
    info = json.loads((folder / "recording.g3").read_text())
    info["scenecamera"]["camera-calibration"].update(changes)
    (folder / "recording.g3").write_text(json.dumps(info))
    (folder / "scenevideo.mp4").unlink()


#: inputs the fuzzing found that escaped as another exception (or read as garbage) before
#: the fix: (format, damage, words the one-line error holds)
FOUND: dict[str, tuple[str, Callable[[Path], object], str]] = {
    "empty-calibration-xml": ("glassestools", lambda f: (f / "calibration.xml").write_bytes(b""),
                              "empty"),
    "fixation-id-huge": ("pupil_core", lambda f: _set_cell(
        f / "exports/000/fixations.csv", 0, "id", "9" * 30), "integer id"),
    "fixation-id-blank": ("pupil_core", lambda f: _set_cell(
        f / "exports/000/fixations.csv", 0, "id", " "), "integer id"),
    "fixation-id-nan": ("pupil_core", lambda f: _set_cell(
        f / "exports/000/fixations.csv", 0, "id", "nan"), "integer id"),
    "npy-of-text": ("pupil_core", lambda f: np.save(
        f / "exports/000/world_timestamps.npy", np.array(["", "a"])), "not real numbers"),
    "npy-of-complex": ("pupil_core", lambda f: np.save(
        f / "exports/000/world_timestamps.npy", np.ones(3, np.complex128)), "not real numbers"),
    "mp4-cut-off": ("generic", lambda f: (f / "scene.mp4").write_bytes(
        (f / "scene.mp4").read_bytes()[:1244]), "scene.mp4"),
    "neon-ns-inf": ("neon", lambda f: _set_cell(f / "gaze.csv", 1, "timestamp [ns]", "inf"),
                    "not a nanosecond timestamp"),
    "neon-ns-beyond-int64": ("neon", lambda f: _set_cell(
        f / "gaze.csv", 1, "timestamp [ns]", "9223372036854775808"), "nanosecond timestamp"),
    "neon-ns-span": ("neon", lambda f: _set_cell(
        f / "gaze.csv", 1, "timestamp [ns]", "-9223372036854775000"), "146 years"),
    "tobii-timestamp-huge-int": ("tobii_g3", lambda f: _gazedata(
        f, {"type": "gaze", "timestamp": 10 ** 400, "data": {}}), "numeric timestamp"),
    "tobii-calibration-zero-size": ("tobii_g3", lambda f: _g3_calibration(
        f, resolution=[0, 0]), "positive size"),
    "tobii-calibration-inf": ("tobii_g3", lambda f: _g3_calibration(
        f, **{"focal-length": [1e400, 1.0]}), "non-finite"),
    "tobii-gaze-file-missing": ("tobii_g3", lambda f: (f / "recording.g3").write_text(
        json.dumps({"gaze": {"file": "other.gz"}})), "not found"),
    "pupil-intrinsics-zero-size": ("pupil_core", lambda f: (
        (f / "world.intrinsics").write_bytes(msgpack.packb({"(0, 0)": {}})),
        (f / "exports/000/world.mp4").unlink()), "cannot tell the scene-camera resolution"),
    "pupil-intrinsics-unhashable-key": ("pupil_core", lambda f: (
        f / "world.intrinsics").write_bytes(b"\x81\x91\x01\x02"), "cannot read camera"),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_found_damage_is_a_one_line_error(pristine: dict[str, Path], tmp_path: Path,
                                          case: str) -> None:
    """Each damage the fuzzing found (another exception or garbage before the fix) is now a
    one-line error that says what is wrong."""
    fmt, damage, words = FOUND[case]
    folder = tmp_path / fmt
    shutil.copytree(pristine[fmt], folder)
    damage(folder)
    got = library_outcome(FORMATS[fmt].reader, folder)
    assert not isinstance(got, Recording), f"read as {got}"
    assert words in str(got), str(got)
