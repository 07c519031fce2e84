"""Fuzzing YAML presets loaded through :func:`gazevos.config.load_config`.

Each config class a command reads (tracker, training and annotate configs) gets YAML files
made of its real setting names (and unknown ones) mapped to drawn values: wrong types,
NaN, infinities, huge and negative numbers, text, lists, mappings, null; plus YAML text that
is not a mapping or not YAML at all.

Property: ``load_config`` returns an instance of the class whose every value has its
declared type (int is not bool, floats are finite) and keeps its declared limits, or raises a
one-line :class:`GazevosError` naming the file.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from _fuzz import LEVELS, count, fuzz_settings, library_outcome
from hypothesis import given
from hypothesis import strategies as st

from gazevos.config import LIMITS_KEY, load_config
from gazevos.errors import GazevosError

pytestmark = pytest.mark.timeout(300)

#: "module:Class" of the configs the CLI loads from --config / presets
CONFIGS = ["gazevos.track.classic.config:ClassicConfig", "gazevos.track.ranet:RanetTrackerConfig",
           "gazevos.track.mast:MastTrackerConfig", "gazevos.track.baselines:FlowConfig",
           "gazevos.track.fusion:FusionConfig",
           "gazevos.train.mast:MastTrainConfig", "gazevos.train.ranet:RanetTrainConfig",
           "gazevos.train.semseg:SemsegTrainConfig", "gazevos.gaze.annotate:AnnotateConfig",
           "gazevos.gaze.sync:SyncConfig"]


def _cls(spec: str) -> type:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10 ** 30), 10 ** 30), st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from([".nan", "nan", "inf", "1e999", "-1", "0", "ten", "", "1e-4", "0x10",
                     "True", 1e308, -1e308, 2 ** 63, -(2 ** 63) - 1, 0.5, 1, 0]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _near_default(default: Any) -> st.SearchStrategy[Any]:
    """Values of the default's own type: a plausible setting, often out of its limits."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.integers(-10, 10 ** 6) | st.just(default * 1000 + 7)
    if isinstance(default, float):
        return st.floats(-1e6, 1e6) | st.just(-default) | st.just(default * 1e6)
    if isinstance(default, tuple):
        return st.lists(st.sampled_from(list(default) or [0]), max_size=len(default) + 2)
    return values


@st.composite
def mappings(draw: st.DrawFn, cls: type, depth: int = 0) -> dict[str, Any]:
    """A mapping of some of ``cls``'s setting names (and an unknown one) to drawn values."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    defaults = cls()
    keys = draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True))
    out: dict[str, Any] = {}
    for key in keys:
        default = getattr(defaults, key)
        if dataclasses.is_dataclass(default) and depth < 2 and draw(st.booleans()):
            out[key] = draw(mappings(type(default), depth + 1))
        else:
            out[key] = draw(_near_default(default) | values)
    if draw(st.integers(0, 9)) == 0:
        out[draw(st.text(min_size=1, max_size=8))] = draw(values)
    return out


def _ok(value: Any, hint: Any) -> bool:
    """``value`` has the type ``hint`` (the few forms config classes use)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_ok(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_ok(v, args[0]) for v in value)
        return len(args) == len(value) and all(_ok(v, a) for v, a in zip(value, args,
                                                                         strict=True))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a form this check does not know: not judged


def check_config_values(cfg: Any, where: str = "") -> None:
    """Every field of ``cfg`` (recursively) has its hinted type and keeps its limits."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check_config_values(value, f"{where}{f.name}.")
            continue
        assert _ok(value, hints[f.name]), f"{where}{f.name} = {value!r} is not {hints[f.name]}"
        limits = f.metadata.get(LIMITS_KEY)
        if limits is not None:
            for v in value if isinstance(value, tuple) else (value,):
                assert limits.problem(v) is None, f"{where}{f.name} = {value!r} breaks {limits}"


@pytest.mark.parametrize("long", LEVELS)
@pytest.mark.parametrize("spec", CONFIGS, ids=lambda s: s.split(":")[1])
def test_yaml_preset_loads_valid_or_fails_in_one_line(spec: str, long: bool) -> None:
    """A drawn preset: a config whose values have their types and limits, or one line."""
    cls = _cls(spec)

    @fuzz_settings(long, ci=12)
    @given(data=mappings(cls), raw=st.none() | st.sampled_from(
        ["", "- 1\n- 2\n", "just text", "{a: [1, 2", "!!python/object:os.system {}\n", "\t:",
         "a: &x [*x]\n", "? [1]\n: 2\n", "1e999", "~\n", "\xff\xfe"]) | st.text(max_size=30)
        | st.binary(max_size=30))
    def check(data: dict[str, Any], raw: str | bytes | None) -> None:
        count(f"configs/{cls.__name__}")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "preset.yaml"
            if raw is None:
                path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            elif isinstance(raw, bytes):
                path.write_bytes(raw)
            else:
                path.write_text(raw, encoding="utf-8", errors="surrogatepass")
            got = library_outcome(load_config, cls, path)
        if isinstance(got, GazevosError):
            assert got.path is not None or "command line" in str(got)
            return
        assert isinstance(got, cls)
        check_config_values(got)

    check()


def test_defaults_and_shipped_presets_keep_their_own_limits() -> None:
    """The checker above accepts every default and shipped preset (so it can only fail on
    what the fuzzing draws)."""
    for spec in CONFIGS:
        check_config_values(_cls(spec)())
    presets = Path(importlib.import_module("gazevos").__file__).parent / "configs"
    for path in sorted(presets.glob("*.yaml")):
        loaded = [load_config(_cls(s), path) for s in CONFIGS
                  if not isinstance(library_outcome(load_config, _cls(s), path), GazevosError)]
        assert loaded, f"{path.name} loads into none of the config classes"
        for cfg in loaded:
            check_config_values(cfg)


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00a", bytes(range(256)), b"a: \x80\n"],
                         ids=["utf16-bom", "all-bytes", "latin1"])
def test_preset_that_is_not_utf8_is_a_one_line_error(tmp_path: Path, raw: bytes) -> None:
    """A binary or non-UTF-8 preset: a one-line error naming the file (found by the CLI
    fuzzing; UnicodeDecodeError out of load_config until commit 2d4eb9d)."""
    path = tmp_path / "preset.yaml"
    path.write_bytes(raw)
    got = library_outcome(load_config, _cls(CONFIGS[0]), path)
    assert isinstance(got, GazevosError) and got.path == str(path)
