"""The study file (``STUDY.yaml``): frozen dataclasses, checked when loaded.

Layout (every key but ``recordings`` is optional)::

    name: pilot
    out: results/                 # default: STUDY-results/ beside the file
    group_by: [condition]         # study columns of the group tables (default: all columns)
    settings:                     # as gazevos annotate's options
      tracker: flow               # any tracker name; checkpoint/config: files
      device: cpu                 # learned trackers: auto, cpu (default), cuda, cuda:N
      tolerance_deg: 1.5
      fixations: i2mc
      video: false
      aoi: {min_gap: 0.075, min_duration: 0.06}   # gazevos.gaze.aoi.AoiConfig
    validation: {unit: samples, mode: tolerant, name_map: {Cup: mug}}
    defaults:                     # keys every recording gets unless it sets its own
      boxes: ["mug:18,30,46,65@0"]
    recordings:
      - path: data/p01            # a recording folder, or a glob matching several
        participant: p01          # default: the folder's name
        condition: A              # any other scalar key is a study column
        boxes: ["mug:18,30,46,65@0", "book:78,44,120,76@0"]
        points: ["ball:136,39@27"]
        objects: masks/p01.png@0  # with names: "1=mug,2=book"
        manual: coding/p01.csv    # a manual coding, for the study-level validation

A recording may instead be a gazevos studio project: ``studio: FOLDER`` (``path`` is then
not needed: the project knows its recording); it is exported headless as
``gazevos annotate --project FOLDER`` does (every frame tracked again from the project's
keyframes, with the project's own tracker and gaze settings: the study's ``settings`` then
apply to the AOI tables only), and prompts are not allowed beside it.

Relative paths are relative to the study file.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gazevos.errors import GazevosError
from gazevos.gaze.annotate import AnnotateConfig
from gazevos.gaze.aoi import AoiConfig
from gazevos.track.registry import DEFAULT_TRACKER

_ANNOTATE = AnnotateConfig()

#: keys of a recording entry that are not study columns
_RECORDING_KEYS = {"path", "participant", "id", "boxes", "points", "objects", "names",
                   "manual", "studio"}
_PROMPT_KEYS = {"path", "boxes", "points", "objects", "names"}
_TOP_KEYS = {"name", "out", "group_by", "settings", "validation", "defaults", "recordings"}
_SETTING_KEYS = {"tracker", "checkpoint", "config", "tolerance_deg", "fixations",
                 "correct_calibration", "min_confidence", "video", "report_frames", "aoi",
                 "device"}


@dataclass(frozen=True)
class StudyRecording:
    """One recording of a study.

    Attributes:
        id: unique name of the recording in the study (output folder name).
        path: the recording folder.
        participant: participant id.
        columns: study columns ``(name, value)`` (condition, group, ...).
        boxes, points: prompt specs as for ``gazevos annotate --box/--point``.
        objects: ``MASK.png@FRAME`` (absolute path) or None.
        names: ``ID=NAME,...`` for ``objects``.
        manual: a manual coding CSV, or None.
        studio: a gazevos studio project folder (then ``path`` is that folder and there are
            no prompts), or None.
    """

    id: str
    path: Path
    participant: str
    columns: tuple[tuple[str, str], ...] = ()
    boxes: tuple[str, ...] = ()
    points: tuple[str, ...] = ()
    objects: str | None = None
    names: str | None = None
    manual: Path | None = None
    studio: Path | None = None

    def column(self, name: str) -> str:
        """A study column's value ('' when the recording has none)."""
        return dict(self.columns).get(name, "")


@dataclass(frozen=True)
class StudySettings:
    """Tracker and annotate settings shared by all recordings (see ``gazevos annotate``)."""

    tracker: str = DEFAULT_TRACKER
    checkpoint: Path | None = None
    config: Path | None = None
    #: where a learned tracker runs on the workers (``gazevos annotate --device``; AMP on
    #: CUDA); the name is checked when the study is loaded, the GPU where a task runs
    device: str = "cpu"
    # annotate's own defaults, so that a study and a single annotate never disagree
    tolerance_deg: float = _ANNOTATE.tolerance_deg
    fixations: str = _ANNOTATE.fixations
    correct_calibration: str = _ANNOTATE.correct_calibration
    min_confidence: float = _ANNOTATE.min_confidence
    video: bool = _ANNOTATE.video
    report_frames: int = _ANNOTATE.report_frames
    aoi: AoiConfig = field(default_factory=AoiConfig)


@dataclass(frozen=True)
class ValidationSettings:
    """Study-level validation: unit (samples/fixations), mode and name map."""

    unit: str = "samples"
    mode: str = "tolerant"
    name_map: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Study:
    """A loaded study file."""

    path: Path
    name: str
    out: Path
    recordings: tuple[StudyRecording, ...]
    settings: StudySettings
    validation: ValidationSettings
    group_by: tuple[str, ...]
    columns: tuple[str, ...]


def _str_list(value: Any, key: str, where: str, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise GazevosError(f"{where}: '{key}' must be a string or a list of strings", path)


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base / p


def _settings(raw: Any, path: Path, base: Path) -> StudySettings:
    from gazevos.config import config_from_dict

    raw = dict(raw or {})
    if not isinstance(raw, dict):
        raise GazevosError("'settings' must be a mapping", path)
    unknown = sorted(set(raw) - _SETTING_KEYS)
    if unknown:
        raise GazevosError(f"unknown setting '{unknown[0]}' (known: "
                           f"{', '.join(sorted(_SETTING_KEYS))})", path)
    try:
        aoi = config_from_dict(AoiConfig, dict(raw.pop("aoi", None) or {}),
                               f"{path}: settings.aoi")
    except GazevosError as exc:
        if exc.path is not None or str(path) in exc.problem:
            raise
        raise GazevosError(f"settings.aoi: {exc.problem}", path) from None
    for key in ("checkpoint", "config"):
        if raw.get(key) is not None:
            raw[key] = _resolve(base, str(raw[key]))
    if "tracker" in raw and not isinstance(raw["tracker"], str):
        raise GazevosError("settings.tracker must be a tracker name", path)
    if "device" in raw:
        from gazevos.devices import device_name

        try:
            raw["device"] = device_name(raw["device"], "settings.device")
        except GazevosError as exc:
            raise GazevosError(exc.problem, path) from None
    from gazevos.gaze.annotate import CORRECTIONS
    from gazevos.gaze.fixations import METHODS

    if raw.get("fixations", "i2mc") not in METHODS:
        raise GazevosError(f"settings.fixations must be one of {', '.join(METHODS)}", path)
    if raw.get("correct_calibration", "none") not in CORRECTIONS:
        raise GazevosError(f"settings.correct_calibration must be one of "
                           f"{', '.join(CORRECTIONS)}", path)
    for key, kind in (("tolerance_deg", (int, float)), ("min_confidence", (int, float)),
                      ("video", (bool,)), ("report_frames", (int,))):
        if key in raw and (not isinstance(raw[key], kind) or (kind != (bool,)
                                                              and isinstance(raw[key], bool))):
            raise GazevosError(f"settings.{key} has the wrong type ({raw[key]!r})", path)
    return StudySettings(aoi=aoi, **raw)


def _validation(raw: Any, path: Path) -> ValidationSettings:
    raw = dict(raw or {})
    unknown = sorted(set(raw) - {"unit", "mode", "name_map"})
    if unknown:
        raise GazevosError(f"unknown validation key '{unknown[0]}'", path)
    unit, mode = str(raw.get("unit", "samples")), str(raw.get("mode", "tolerant"))
    if unit not in ("samples", "fixations") or mode not in ("strict", "tolerant"):
        raise GazevosError("validation.unit must be samples or fixations and validation.mode "
                           "strict or tolerant", path)
    nm = raw.get("name_map") or {}
    if not isinstance(nm, dict):
        raise GazevosError("validation.name_map must be a mapping MANUAL: GAZEVOS", path)
    return ValidationSettings(unit, mode, tuple((str(k), str(v)) for k, v in nm.items()))


def _columns(entry: dict[str, Any], where: str, path: Path) -> tuple[tuple[str, str], ...]:
    columns = []
    for key, value in entry.items():
        if key in _RECORDING_KEYS:
            continue
        if isinstance(value, (dict, list)):
            raise GazevosError(f"{where}: study column '{key}' must be a single value", path)
        columns.append((str(key), "" if value is None else str(value)))
    return tuple(columns)


def _studio_entry(entry: dict[str, Any], where: str, path: Path, base: Path) -> StudyRecording:
    """A recording given as a studio project folder."""
    given = [k for k in ("boxes", "points", "objects", "names", "path") if entry.get(k)]
    if given:
        raise GazevosError(f"{where}: a studio project brings its recording and objects; "
                           f"leave '{given[0]}' out", path)
    folder = _resolve(base, str(entry["studio"]))
    if not (folder / "studio.sqlite").is_file():
        raise GazevosError(f"{where}: '{folder}' is not a gazevos studio project (no "
                           "studio.sqlite)", path)
    participant = str(entry.get("participant", folder.name))
    manual = _resolve(base, str(entry["manual"])) if entry.get("manual") else None
    return StudyRecording(str(entry.get("id", participant)), folder, participant,
                          _columns(entry, where, path), manual=manual, studio=folder)


def _expand(entry: dict[str, Any], k: int, path: Path, base: Path) -> list[StudyRecording]:
    where = f"recording {k + 1}"
    if entry.get("studio") is not None:
        return [_studio_entry(entry, where, path, base)]
    if "path" not in entry or not isinstance(entry["path"], str):
        raise GazevosError(f"{where}: 'path' (a recording folder or a glob) is missing", path)
    pattern = str(_resolve(base, entry["path"]))
    matches = sorted(Path(m) for m in glob.glob(pattern)) if glob.has_magic(pattern) \
        else [Path(pattern)]
    if not matches:
        raise GazevosError(f"{where}: no recording matches '{entry['path']}'", path)
    for m in matches:
        if not m.exists():
            raise GazevosError(f"{where}: recording '{m}' not found", path)
    if len(matches) > 1 and ("participant" in entry or "id" in entry):
        raise GazevosError(f"{where}: '{entry['path']}' matches {len(matches)} recordings; "
                           "leave 'participant' and 'id' out (each gets its folder's name)",
                           path)
    boxes = _str_list(entry.get("boxes"), "boxes", where, path)
    points = _str_list(entry.get("points"), "points", where, path)
    objects = entry.get("objects")
    if objects is not None:
        spec = str(objects)
        mask, sep, frame = spec.rpartition("@")
        objects = f"{_resolve(base, mask)}@{frame}" if sep else str(_resolve(base, spec))
    if not (boxes or points or objects):
        raise GazevosError(f"{where}: no object given (boxes, points or objects)", path)
    columns = _columns(entry, where, path)
    manual = _resolve(base, str(entry["manual"])) if entry.get("manual") else None
    out = []
    for m in matches:
        participant = str(entry.get("participant", m.name))
        out.append(StudyRecording(str(entry.get("id", participant)), m, participant,
                                  columns, boxes, points, objects,
                                  str(entry["names"]) if entry.get("names") else None, manual))
    return out


def load_study(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
               ) -> Study:
    """Read and check a study file (module docstring); ``out`` overrides its ``out``."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise GazevosError(f"cannot read the study file ({exc.strerror or exc})", path) from None
    except UnicodeDecodeError:
        raise GazevosError("not a text file (not UTF-8): a study file is YAML text",
                           path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise GazevosError(f"not valid YAML{where}", path) from None
    if not isinstance(raw, dict):
        raise GazevosError("a study file is a mapping with a 'recordings' list", path)
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise GazevosError(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(_TOP_KEYS))})",
                           path)
    entries = raw.get("recordings")
    if not isinstance(entries, list) or not entries:
        raise GazevosError("'recordings' must be a non-empty list", path)
    base = path.resolve().parent
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise GazevosError("'defaults' must be a mapping", path)
    recs: list[StudyRecording] = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise GazevosError(f"recording {k + 1} must be a mapping with a 'path'", path)
        base_keys = defaults
        if entry.get("studio") is not None:  # a project brings its own recording and objects
            base_keys = {k: v for k, v in defaults.items() if k not in _PROMPT_KEYS}
        recs += _expand({**base_keys, **entry}, k, path, base)
    seen: dict[str, int] = {}
    for r in recs:
        seen[r.id] = seen.get(r.id, 0) + 1
    if any(n > 1 for n in seen.values()):
        dup = next(i for i, n in seen.items() if n > 1)
        raise GazevosError(f"recording id '{dup}' is used twice (give each an 'id')", path)
    for r in recs:
        if not r.id or r.id.startswith(".") or "/" in r.id or "\\" in r.id:
            raise GazevosError(f"recording id '{r.id}' cannot be a folder name", path)
    columns = tuple(dict.fromkeys(c for r in recs for c, _ in r.columns))
    group_by = _str_list(raw.get("group_by"), "group_by", "study", path)
    group_by = group_by if "group_by" in raw else columns
    missing = [g for g in group_by if g not in columns]
    if missing:
        raise GazevosError(f"group_by names '{missing[0]}', which no recording has", path)
    name = str(raw.get("name") or path.stem)
    # absolute: the tasks may run on other machines' workers, in another working folder
    out_dir = Path(os.path.abspath(out)) if out is not None else (
        _resolve(base, str(raw["out"])) if raw.get("out") else base / f"{path.stem}-results")
    return Study(path, name, out_dir, tuple(recs), _settings(raw.get("settings"), path, base),
                 _validation(raw.get("validation"), path), tuple(group_by), columns)
