"""Frozen-dataclass configuration with YAML presets and CLI overrides.

Every tunable lives in exactly one frozen dataclass.  A preset is a YAML file
holding a mapping of field names to values (nested dataclasses as nested
mappings); :func:`load_config` starts from the dataclass defaults, applies the
preset, then applies overrides (e.g. from CLI flags).
"""

from __future__ import annotations

import dataclasses
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gazevos.errors import GazevosError

T = TypeVar("T")


def _merge(cls: type[T], base: T, values: dict[str, Any], source: str) -> T:
    """Return ``base`` with ``values`` applied, checking names and nesting."""
    if not isinstance(values, dict):
        raise GazevosError(f"expected a mapping for {cls.__name__}, got {type(values).__name__}",
                           source)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise GazevosError(
                f"unknown setting '{key}' for {cls.__name__} (known: {', '.join(sorted(fields))})",
                source)
        hint = hints.get(key)
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = _merge(type(current), current, value, source)
        elif isinstance(value, list) and isinstance(current, tuple):
            changes[key] = tuple(value)
        elif hint is float and isinstance(value, int) and not isinstance(value, bool):
            changes[key] = float(value)
        else:
            changes[key] = value
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]


def preset_path(name: str) -> Path:
    """Path of a preset shipped in ``gazevos/configs`` (``name`` without ``.yaml``)."""
    return Path(str(resources.files("gazevos") / "configs" / f"{name}.yaml"))


def load_config(cls: type[T], preset: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> T:
    """Build a frozen config: defaults, then a YAML preset, then overrides.

    Args:
        cls: the frozen dataclass type.
        preset: a YAML file path, or the name of a shipped preset.
        overrides: field values that win over the preset (``None`` values ignored).
    """
    cfg = cls()
    if preset is not None:
        path = Path(preset)
        if not path.suffix and not path.exists():
            path = preset_path(str(preset))
        if not path.is_file():
            raise GazevosError("config file not found", path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise GazevosError(f"not valid YAML ({exc.__class__.__name__})", path) from exc
        cfg = _merge(cls, cfg, data, str(path))
    if overrides:
        cfg = _merge(cls, cfg, {k: v for k, v in overrides.items() if v is not None},
                     "command line")
    return cfg


def config_from_dict(cls: type[T], values: dict[str, Any], source: str) -> T:
    """The defaults of ``cls`` with ``values`` (a plain, possibly nested mapping as written
    by :func:`config_to_dict`) applied; unknown names are a one-line error naming ``source``."""
    return _merge(cls, cls(), values, source)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML-serialisable dict of a (nested) config dataclass."""
    out = dataclasses.asdict(cfg)

    def _fix(v: Any) -> Any:
        if isinstance(v, tuple):
            return [_fix(x) for x in v]
        if isinstance(v, dict):
            return {k: _fix(x) for k, x in v.items()}
        return v

    return _fix(out)
