"""Frozen-dataclass configuration with YAML presets and CLI overrides.

Every tunable lives in exactly one frozen dataclass.  A preset is a YAML file
holding a mapping of field names to values (nested dataclasses as nested
mappings); :func:`load_config` starts from the dataclass defaults, applies the
preset, then applies overrides (e.g. from CLI flags).

Every value is checked against its field's type hint when it is applied: ``int`` (not a
bool, not a float), ``float`` (an int or a numeric string such as YAML's ``1e-4`` is taken;
NaN and infinities are refused), ``bool``, ``str``, ``tuple[X, ...]`` / ``tuple[X, Y]``
(from a list), ``X | None``, ``Literal[...]`` and nested config dataclasses (from a
mapping).  A field can also declare limits with :func:`setting`::

    work_scale: float = setting(0.5, gt=0.0, le=1.0)
    patch_size: int = setting(-1, ge=2, le=64, also=(-1,))

Limits apply to the value, or to each element of a tuple.  A bad value is a one-line
:class:`~gazevos.errors.GazevosError` naming the file and the key, e.g.
``my.yaml: setting 'online_steps' must be an integer, got 'ten'``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gazevos.errors import GazevosError

T = TypeVar("T")

#: key of a field's limits in ``dataclasses.field(metadata=...)``
LIMITS_KEY = "gazevos_limits"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds (and allowed values) of a config field; see :func:`setting`."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    also: tuple[Any, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` breaks these limits (``"must be >= 0"``), or None when it keeps them."""
        if value in self.also:
            return None
        if self.choices is not None and value not in self.choices:
            return "must be one of " + ", ".join(repr(c) for c in self.choices)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        low_ok = ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt))
        high_ok = ((self.le is None or value <= self.le) and (self.lt is None or value < self.lt))
        if low_ok and high_ok:
            return None
        low = f">= {self.ge:g}" if self.ge is not None else (
            f"> {self.gt:g}" if self.gt is not None else "")
        high = f"<= {self.le:g}" if self.le is not None else (
            f"< {self.lt:g}" if self.lt is not None else "")
        text = "must be " + " and ".join(b for b in (low, high) if b)
        if self.also:
            text += " (or " + " or ".join(repr(a) for a in self.also) + ")"
        return text


def setting(default: Any, *, ge: float | None = None, gt: float | None = None,
            le: float | None = None, lt: float | None = None,
            choices: tuple[Any, ...] | None = None, also: tuple[Any, ...] = ()) -> Any:
    """A dataclass field with ``default`` and limits checked when a config is loaded.

    Args:
        default: the default value (immutable: a number, string, tuple or frozen dataclass).
        ge, gt, le, lt: the value (each element, for a tuple) must be ``>=``, ``>``, ``<=``,
            ``<`` these.
        choices: the value (each element) must be one of these.
        also: values allowed besides the range (e.g. ``-1`` for "the library's default").
    """
    limits = Limits(ge=ge, gt=gt, le=le, lt=lt, choices=choices, also=also)
    return dataclasses.field(default=default, metadata={LIMITS_KEY: limits})


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(value: Any, hint: Any, key: str, source: str, limits: Limits | None,
                 current: Any = None) -> Any:
    """``value`` converted to the type ``hint`` (checked, with ``limits``) for setting ``key``.

    Raises:
        GazevosError: ``source: setting 'key' must be ..., got ...``.
    """
    def bad(what: str) -> GazevosError:
        return GazevosError(f"setting '{key}' {what}, got {_show(value)}", source)

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if value is None:
            raise bad("must not be empty (null)")
        if len(options) == 1:
            return _check_value(value, options[0], key, source, limits, current)
        for option in options:  # a union of several types: the first that takes the value
            try:
                return _check_value(value, option, key, source, limits, current)
            except GazevosError:
                continue
        raise bad("must be " + " or ".join(getattr(o, "__name__", str(o)) for o in options))
    if origin is typing.Literal:
        if value not in args:
            raise bad("must be one of " + ", ".join(repr(a) for a in args))
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad("must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            kinds = [args[0]] * len(value)
        elif args:
            if len(value) != len(args):
                raise bad(f"must be a list of {len(args)} values")
            kinds = list(args)
        else:
            return tuple(value)
        return tuple(_check_value(v, k, f"{key}[{i}]", source, limits)
                     for i, (v, k) in enumerate(zip(value, kinds, strict=True)))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # already a config (check_config, overrides)
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return _merge(hint, value, fields, source, prefix=f"{key}.")
        if not isinstance(value, dict):
            raise bad("must be a mapping of settings")
        base = current if isinstance(current, hint) else hint()
        return _merge(hint, base, value, source, prefix=f"{key}.")
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("must be true or false")
    elif hint is int:
        if not _is_int(value):
            raise bad("must be an integer")
    elif hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise bad("must be a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("must be a number")
        value = float(value)
        if not math.isfinite(value):
            raise bad("must be a finite number")
    elif hint is str:
        if not isinstance(value, str):
            raise bad("must be a string")
    if limits is not None:
        problem = limits.problem(value)
        if problem:
            raise bad(problem)
    return value


def _merge(cls: type[T], base: T, values: dict[str, Any], source: str,
           prefix: str = "") -> T:
    """Return ``base`` with ``values`` applied, checking names, types, limits and nesting.

    Args:
        prefix: dotted path of ``cls`` inside the top-level config (for messages).
    """
    if not isinstance(values, dict):
        raise GazevosError(f"expected a mapping for {cls.__name__}, got {type(values).__name__}",
                           source)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise GazevosError(
                f"unknown setting '{prefix}{key}' for {cls.__name__} "
                f"(known: {', '.join(sorted(fields))})", source)
        limits = fields[key].metadata.get(LIMITS_KEY)
        hint = hints.get(key, Any)
        changes[key] = _check_value(value, hint, f"{prefix}{key}", source, limits,
                                    getattr(base, key))
    try:
        return dataclasses.replace(base, **changes)  # type: ignore[type-var]
    except (ValueError, TypeError) as exc:  # a __post_init__ check of the dataclass
        where = f"setting '{prefix[:-1]}'" if prefix else f"bad settings for {cls.__name__}"
        raise GazevosError(f"{where}: {exc}", source) from exc


def check_config(cfg: Any, source: str = "defaults") -> None:
    """Check every field of a (nested) config dataclass against its type and limits, e.g.
    the defaults of a new config class (a test does this for every shipped config).

    Raises:
        GazevosError: the first bad value.
    """
    _merge(type(cfg), cfg, {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)},
           source)


def preset_path(name: str) -> Path:
    """Path of a preset shipped in ``gazevos/configs`` (``name`` without ``.yaml``)."""
    return Path(str(resources.files("gazevos") / "configs" / f"{name}.yaml"))


def read_yaml(path: Path) -> Any:
    """The content of a YAML file (``{}`` when empty); one-line errors for a file that cannot
    be read, is not UTF-8 text, or is not valid YAML (with the line of the problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GazevosError(f"not a text file (byte {exc.start} is not UTF-8)", path) from exc
    except OSError as exc:
        raise GazevosError(f"cannot read the config file ({exc.strerror or exc})", path) \
            from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        what = f": {problem}" if problem else ""
        raise GazevosError(f"not valid YAML ({exc.__class__.__name__}{where}{what})", path) \
            from exc
    return {} if data is None else data


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
                shipped = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml")))
                raise GazevosError(f"no config file or shipped preset named '{preset}' "
                                   f"(presets: {shipped})")
        if not path.is_file():
            raise GazevosError("config file not found", path)
        cfg = _merge(cls, cfg, read_yaml(path), str(path))
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
