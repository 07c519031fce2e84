"""A studio project: the state of one annotation session, in one folder.

Layout of a project folder::

    studio.sqlite          the database (below)
    keyframes/NNNNN-*.png  the label map of each keyframe (DAVIS palette), content-named
    masks/NNNNN.png        the tracked label map of every frame (DAVIS palette)

The database (stdlib :mod:`sqlite3`, WAL journal) holds:

* ``meta``: the recording (path, format, fingerprint), the tracker and the settings;
* ``objects``: id (1..254), name, colour;
* ``keyframes``: one row per (frame, object) given by the user: kind (``points``,
  ``box``, ``brush``), the prompt as JSON, and the keyframe's label-map PNG;
* ``tracked``: per frame and object, the mask area and the tracker's confidence, as
  written by the last tracking pass (a frame without rows is not tracked);
* ``overrides``: fixation id -> object id (0: on nothing);
* ``audit``: every change: time, action, before and after as JSON.

Every edit is one transaction (:meth:`Project.edit`): its rows and its audit entry are
committed together or not at all.  Files an edit needs (a keyframe PNG) are written
atomically under a new, content-derived name *before* the transaction that points to
them, so a crash or a killed server leaves at worst an unused file, never a half-applied
edit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gazevos.errors import GazevosError
from gazevos.io.masks import DAVIS_PALETTE, read_mask, write_mask

DB_NAME = "studio.sqlite"
SCHEMA_VERSION = 1
KEYFRAME_KINDS = ("points", "box", "brush")
MAX_OBJECTS = 254

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 254),
    name TEXT NOT NULL UNIQUE,
    colour TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keyframes (
    frame INTEGER NOT NULL,
    object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    mask TEXT NOT NULL,
    PRIMARY KEY (frame, object_id));
CREATE TABLE IF NOT EXISTS tracked (
    frame INTEGER NOT NULL,
    object_id INTEGER NOT NULL,
    area INTEGER NOT NULL,
    confidence REAL,
    PRIMARY KEY (frame, object_id));
CREATE TABLE IF NOT EXISTS frames_done (frame INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS overrides (
    fixation_id INTEGER PRIMARY KEY,
    object_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT);
"""


#: bright, distinct colours for the first objects (the DAVIS palette's are dark)
COLOURS = ("#ff3b30", "#34c759", "#ffcc00", "#af52de", "#ff9500", "#00c7be", "#ff2d55",
           "#5ac8fa", "#a2845e", "#30d158")


def default_colour(object_id: int) -> str:
    """A bright colour for the first ten ids, else the id's DAVIS palette colour, as
    ``#rrggbb``."""
    if 1 <= object_id <= len(COLOURS):
        return COLOURS[object_id - 1]
    r, g, b = (int(v) for v in DAVIS_PALETTE[object_id])
    return f"#{r:02x}{g:02x}{b:02x}"


def check_colour(colour: str) -> str:
    """``#rrggbb`` (lower case) or a :class:`GazevosError`."""
    c = str(colour).strip().lower()
    if len(c) != 7 or c[0] != "#" or any(ch not in "0123456789abcdef" for ch in c[1:]):
        raise GazevosError(f"colour must be #rrggbb, got '{colour}'")
    return c


def check_name(name: str) -> str:
    """A non-empty one-line object name of at most 80 characters."""
    n = " ".join(str(name).split())
    if not n or len(n) > 80:
        raise GazevosError("an object name must have 1 to 80 characters")
    return n


@dataclass(frozen=True)
class ObjectRow:
    """One object of a project."""

    id: int
    name: str
    colour: str


@dataclass(frozen=True)
class KeyframeRow:
    """One user-given prompt of an object at a keyframe (``mask``: the keyframe's PNG,
    relative to the project folder)."""

    frame: int
    object_id: int
    kind: str
    payload: dict[str, Any]
    mask: str


class Project:
    """An open project folder (see the module docstring).

    Args:
        root: the project folder (created if absent).
        recording: the recording folder; required when the project is new.  An existing
            project opened with another recording is refused.
        recording_fingerprint: the recording's content fingerprint, stored when new and
            compared otherwise (None: not checked).

    Raises:
        GazevosError: a folder that is not a project, a project of another recording, a
            database written by a newer gazevos.
    """

    def __init__(self, root: str | os.PathLike[str], recording: str | os.PathLike[str] | None
                 = None, recording_fingerprint: str | None = None) -> None:
        self.root = Path(root).resolve()
        db = self.root / DB_NAME
        if self.root.exists() and not self.root.is_dir():
            raise GazevosError("project path exists and is not a folder", self.root)
        new = not db.is_file()
        if new and self.root.is_dir() and any(p for p in self.root.iterdir()
                                              if not p.name.startswith(".")):
            raise GazevosError("folder is not empty and holds no studio project "
                               f"({DB_NAME}); choose an empty or new folder", self.root)
        if new and recording is None:
            raise GazevosError(f"not a studio project (no {DB_NAME})", self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise GazevosError(f"cannot open the project database ({exc})", db) from exc
        version = self.get_meta("schema")
        if version is None:
            with self.edit("create project", None, {"recording": str(recording)}) as cur:
                self._set_meta(cur, "schema", SCHEMA_VERSION)
                self._set_meta(cur, "recording", str(Path(recording).resolve()))  # type: ignore[arg-type]
                self._set_meta(cur, "recording_fingerprint", recording_fingerprint)
                self._set_meta(cur, "created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        elif int(version) > SCHEMA_VERSION:
            raise GazevosError(f"project database version {version} is newer than this "
                               f"gazevos reads ({SCHEMA_VERSION})", db)
        else:
            if recording is not None and Path(recording).resolve() != self.recording:
                raise GazevosError(f"project belongs to the recording {self.recording}, not "
                                   f"{Path(recording).resolve()}", db)
            stored = self.get_meta("recording_fingerprint")
            if (recording_fingerprint is not None and stored is not None
                    and stored != recording_fingerprint):
                raise GazevosError("the recording has changed since this project was "
                                   "made (its fingerprint differs)", self.recording)
        self.masks_dir.mkdir(exist_ok=True)
        (self.root / "keyframes").mkdir(exist_ok=True)

    # ------------------------------------------------------------------ basics
    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @property
    def masks_dir(self) -> Path:
        """The folder of tracked masks (``NNNNN.png``)."""
        return self.root / "masks"

    @property
    def recording(self) -> Path:
        """The recording folder this project annotates."""
        return Path(str(self.get_meta("recording")))

    @contextlib.contextmanager
    def edit(self, action: str, before: Any, after: Any) -> Iterator[sqlite3.Cursor]:
        """One transaction with its audit entry: all of it is committed, or none."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("INSERT INTO audit (time, action, before, after) VALUES (?,?,?,?)",
                            (time.strftime("%Y-%m-%dT%H:%M:%S%z"), action,
                             json.dumps(before, default=str), json.dumps(after, default=str)))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @staticmethod
    def _set_meta(cur: sqlite3.Cursor, key: str, value: Any) -> None:
        cur.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A ``meta`` value (JSON-decoded), or ``default``."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: Any, action: str | None = None) -> None:
        """Set a ``meta`` value in a logged transaction."""
        with self.edit(action or f"set {key}", self.get_meta(key), value) as cur:
            self._set_meta(cur, key, value)

    # ------------------------------------------------------------------ objects
    def objects(self) -> list[ObjectRow]:
        """All objects, by id."""
        return [ObjectRow(*r) for r in self._query(
            "SELECT id, name, colour FROM objects ORDER BY id")]

    def object(self, object_id: int) -> ObjectRow:
        """One object; a :class:`GazevosError` when there is no such id."""
        rows = self._query("SELECT id, name, colour FROM objects WHERE id = ?", (object_id,))
        if not rows:
            raise GazevosError(f"no object with id {object_id}")
        return ObjectRow(*rows[0])

    def add_object(self, name: str, colour: str | None = None) -> ObjectRow:
        """A new object with the lowest free id."""
        name = check_name(name)
        used = {o.id for o in self.objects()}
        if any(o.name == name for o in self.objects()):
            raise GazevosError(f"an object named '{name}' exists already")
        free = [i for i in range(1, MAX_OBJECTS + 1) if i not in used]
        if not free:
            raise GazevosError(f"a project holds at most {MAX_OBJECTS} objects")
        row = ObjectRow(free[0], name, check_colour(colour or default_colour(free[0])))
        with self.edit("add object", None, row.__dict__) as cur:
            cur.execute("INSERT INTO objects (id, name, colour) VALUES (?,?,?)",
                        (row.id, row.name, row.colour))
        return row

    def update_object(self, object_id: int, name: str | None = None,
                      colour: str | None = None) -> ObjectRow:
        """Rename and/or recolour an object."""
        old = self.object(object_id)
        new = ObjectRow(old.id, old.name if name is None else check_name(name),
                        old.colour if colour is None else check_colour(colour))
        if new.name != old.name and any(o.name == new.name for o in self.objects()):
            raise GazevosError(f"an object named '{new.name}' exists already")
        with self.edit("update object", old.__dict__, new.__dict__) as cur:
            cur.execute("UPDATE objects SET name = ?, colour = ? WHERE id = ?",
                        (new.name, new.colour, object_id))
        return new

    def delete_object(self, object_id: int) -> None:
        """Delete an object with its keyframe prompts, tracking rows and overrides onto it.

        Keyframes whose label map holds it keep the map; its pixels are ignored from then
        on because the id is no longer an object (the next tracking pass drops them)."""
        old = self.object(object_id)
        kfs = [k.__dict__ for k in self.keyframes() if k.object_id == object_id]
        with self.edit("delete object", {"object": old.__dict__, "keyframes": kfs},
                       None) as cur:
            cur.execute("DELETE FROM keyframes WHERE object_id = ?", (object_id,))
            cur.execute("DELETE FROM tracked WHERE object_id = ?", (object_id,))
            cur.execute("DELETE FROM overrides WHERE object_id = ?", (object_id,))
            cur.execute("DELETE FROM objects WHERE id = ?", (object_id,))

    # ------------------------------------------------------------------ keyframes
    def keyframes(self) -> list[KeyframeRow]:
        """All keyframe prompts, by frame then object."""
        return [KeyframeRow(f, o, k, json.loads(p), m) for f, o, k, p, m in self._query(
            "SELECT frame, object_id, kind, payload, mask FROM keyframes "
            "ORDER BY frame, object_id")]

    def keyframe_frames(self) -> list[int]:
        """The frames that are keyframes, ascending."""
        return [r[0] for r in self._query("SELECT DISTINCT frame FROM keyframes ORDER BY frame")]

    def keyframe_labels(self, frame: int) -> np.ndarray | None:
        """The label map of keyframe ``frame`` restricted to existing objects (None: not a
        keyframe)."""
        rows = self._query("SELECT mask FROM keyframes WHERE frame = ? LIMIT 1", (frame,))
        if not rows:
            return None
        labels = read_mask(self.root / rows[0][0])
        ids = {o.id for o in self.objects()}
        keep = np.zeros(256, dtype=bool)
        keep[list(ids)] = True
        return np.where(keep[labels], labels, 0).astype(np.uint8)

    def set_keyframe(self, frame: int, object_id: int, kind: str, payload: dict[str, Any],
                     labels: np.ndarray) -> KeyframeRow:
        """Make ``frame`` a keyframe with the label map ``labels``, given by the user for
        ``object_id`` (by ``kind`` with ``payload``); replaces that object's earlier prompt
        at this frame, and points every prompt of this frame to the new map."""
        self.object(object_id)
        if kind not in KEYFRAME_KINDS:
            raise GazevosError(f"keyframe kind must be one of {', '.join(KEYFRAME_KINDS)}")
        digest = hashlib.sha1(np.ascontiguousarray(labels).tobytes()).hexdigest()[:16]
        rel = f"keyframes/{frame:05d}-{digest}.png"
        if not (self.root / rel).is_file():
            write_mask(self.root / rel, labels)  # before the transaction: see the docstring
        before = [k.__dict__ for k in self.keyframes() if k.frame == frame]
        row = KeyframeRow(frame, object_id, kind, payload, rel)
        with self.edit("set keyframe", before, row.__dict__) as cur:
            cur.execute("INSERT OR REPLACE INTO keyframes (frame, object_id, kind, payload, "
                        "mask) VALUES (?,?,?,?,?)",
                        (frame, object_id, kind, json.dumps(payload), rel))
            cur.execute("UPDATE keyframes SET mask = ? WHERE frame = ?", (rel, frame))
        return row

    def delete_keyframe(self, frame: int) -> None:
        """Remove every prompt of keyframe ``frame``."""
        before = [k.__dict__ for k in self.keyframes() if k.frame == frame]
        if not before:
            raise GazevosError(f"frame {frame} is not a keyframe")
        with self.edit("delete keyframe", before, None) as cur:
            cur.execute("DELETE FROM keyframes WHERE frame = ?", (frame,))

    # ------------------------------------------------------------------ tracking state
    def clear_tracked(self, start: int, stop: int) -> None:
        """Forget the tracking of frames ``[start, stop)`` (before re-tracking them).

        Not audited (tracking state, not a user's edit); one transaction."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute("DELETE FROM tracked WHERE frame >= ? AND frame < ?", (start, stop))
                cur.execute("DELETE FROM frames_done WHERE frame >= ? AND frame < ?",
                            (start, stop))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def record_tracked(self, rows: list[tuple[int, dict[int, int], dict[int, float]]]) -> None:
        """Store tracked frames: ``(frame, {object: area}, {object: confidence})`` each.

        Not audited (the tracker's output, not a user's edit); one transaction."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for frame, areas, conf in rows:
                    cur.execute("DELETE FROM tracked WHERE frame = ?", (frame,))
                    ids = set(areas) | set(conf)
                    cur.executemany(
                        "INSERT INTO tracked (frame, object_id, area, confidence) "
                        "VALUES (?,?,?,?)",
                        [(frame, i, int(areas.get(i, 0)),
                          None if i not in conf else float(conf[i])) for i in sorted(ids)])
                    cur.execute("INSERT OR REPLACE INTO frames_done (frame) VALUES (?)",
                                (frame,))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def is_tracked(self, frame: int) -> bool:
        """Whether the last passes wrote frame ``frame`` completely."""
        return bool(self._query("SELECT 1 FROM frames_done WHERE frame = ?", (frame,)))

    def tracked_frames(self) -> set[int]:
        """Frames whose masks the last passes wrote completely."""
        return {r[0] for r in self._query("SELECT frame FROM frames_done")}

    def tracked_rows(self) -> list[tuple[int, int, int, float | None]]:
        """``(frame, object_id, area, confidence)`` of every tracked frame and object."""
        return self._query("SELECT frame, object_id, area, confidence FROM tracked")

    # ------------------------------------------------------------------ overrides
    def overrides(self) -> dict[int, int]:
        """Fixation id -> object id (0: on nothing)."""
        return dict(self._query("SELECT fixation_id, object_id FROM overrides"))

    def set_override(self, fixation_id: int, object_id: int | None) -> None:
        """Say fixation ``fixation_id`` is on ``object_id`` (0: on nothing; None: remove the
        override)."""
        if object_id:
            self.object(object_id)
        before = self.overrides().get(fixation_id)
        with self.edit("override fixation", {"fixation_id": fixation_id, "object_id": before},
                       {"fixation_id": fixation_id, "object_id": object_id}) as cur:
            if object_id is None:
                cur.execute("DELETE FROM overrides WHERE fixation_id = ?", (fixation_id,))
            else:
                cur.execute("INSERT OR REPLACE INTO overrides (fixation_id, object_id) "
                            "VALUES (?, ?)", (fixation_id, int(object_id)))

    # ------------------------------------------------------------------ audit
    def audit(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest audit entries, newest first."""
        rows = self._query("SELECT id, time, action, before, after FROM audit "
                           "ORDER BY id DESC LIMIT ?", (limit,))
        return [{"id": i, "time": t, "action": a, "before": json.loads(b) if b else None,
                 "after": json.loads(af) if af else None} for i, t, a, b, af in rows]
