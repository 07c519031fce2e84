"""Config loading (gazevos.config): every value is checked against its field's type hint and
declared limits, and a bad one is a one-line error naming the file and the key."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Literal

import pytest

from gazevos.config import (
    check_config,
    config_from_dict,
    config_to_dict,
    load_config,
    preset_path,
    setting,
)
from gazevos.errors import GazevosError
from gazevos.gaze.sync import SyncConfig
from gazevos.models.mast.model import MastModelConfig
from gazevos.models.ranet.model import RANetConfig
from gazevos.models.semseg.hrnet import HRNetConfig
from gazevos.track.baselines import FlowConfig
from gazevos.track.classic.config import ClassicConfig
from gazevos.track.fusion import FusionConfig
from gazevos.track.mast import MastTrackerConfig
from gazevos.track.ranet import RanetTrackerConfig
from gazevos.train.mast import MastTrainConfig
from gazevos.train.ranet import RanetTrainConfig
from gazevos.train.semseg import SemsegTrainConfig


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int = setting(3, ge=1)
    name: str = "a"


@dataclasses.dataclass(frozen=True)
class Cfg:
    steps: int = setting(10, ge=0)
    rate: float = setting(0.5, gt=0.0, le=1.0)
    flag: bool = False
    mode: str = setting("fast", choices=("fast", "slow"))
    kind: Literal["a", "b"] = "a"
    radii: tuple[int, ...] = setting((2, 6), ge=1)
    pair: tuple[int, int] = (1, 2)
    limit: float | None = None
    inner: Inner = Inner()
    free: float = -1.0
    patch: int = setting(-1, ge=2, le=64, also=(-1, 0))


def _load(tmp_path: Path, text: str) -> Cfg:
    path = tmp_path / "my.yaml"
    path.write_text(text)
    return load_config(Cfg, path)


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(GazevosError) as err:
        load_config(Cfg, path)
    assert err.value.path == str(path)
    return err.value.problem


def test_good_values_are_taken_and_converted(tmp_path):
    cfg = _load(tmp_path, "steps: 0\nrate: 1\nflag: yes\nmode: slow\nkind: b\nradii: [1, 4, 9]\n"
                          "pair: [3, 4]\nlimit: 2.5\ninner: {size: 7}\nfree: 1e-4\n")
    assert cfg == Cfg(steps=0, rate=1.0, flag=True, mode="slow", kind="b", radii=(1, 4, 9),
                      pair=(3, 4), limit=2.5, inner=Inner(size=7), free=1e-4)
    assert isinstance(cfg.rate, float) and isinstance(cfg.radii, tuple)
    assert _load(tmp_path, "limit: null\n").limit is None
    assert [_load(tmp_path, f"patch: {v}\n").patch for v in (-1, 0, 2, 64)] == [-1, 0, 2, 64]
    assert _load(tmp_path, "{}\n") == Cfg()


@pytest.mark.parametrize(("text", "problem"), [
    ("steps: ten", "setting 'steps' must be an integer, got 'ten'"),
    ("steps: 2.5", "setting 'steps' must be an integer, got 2.5"),
    ("steps: true", "setting 'steps' must be an integer, got True"),
    ("steps: -1", "setting 'steps' must be >= 0, got -1"),
    ("steps: null", "setting 'steps' must be an integer, got None"),
    ("rate: abc", "setting 'rate' must be a number, got 'abc'"),
    ("rate: .nan", "setting 'rate' must be a finite number, got nan"),
    ("rate: .inf", "setting 'rate' must be a finite number, got inf"),
    ("rate: nan", "setting 'rate' must be a finite number, got nan"),
    ("rate: 0", "setting 'rate' must be > 0 and <= 1, got 0.0"),
    ("rate: 1.5", "setting 'rate' must be > 0 and <= 1, got 1.5"),
    ("rate: [1]", "setting 'rate' must be a number, got [1]"),
    ("flag: 1", "setting 'flag' must be true or false, got 1"),
    ("flag: maybe", "setting 'flag' must be true or false, got 'maybe'"),
    ("mode: 5", "setting 'mode' must be a string, got 5"),
    ("mode: fastest", "setting 'mode' must be one of 'fast', 'slow', got 'fastest'"),
    ("kind: c", "setting 'kind' must be one of 'a', 'b', got 'c'"),
    ("radii: 3", "setting 'radii' must be a list, got 3"),
    ("radii: [1, x]", "setting 'radii[1]' must be an integer, got 'x'"),
    ("radii: [1, 0]", "setting 'radii[1]' must be >= 1, got 0"),
    ("pair: [1, 2, 3]", "setting 'pair' must be a list of 2 values, got [1, 2, 3]"),
    ("limit: much", "setting 'limit' must be a number, got 'much'"),
    ("inner: 3", "setting 'inner' must be a mapping of settings, got 3"),
    ("inner: {size: 0}", "setting 'inner.size' must be >= 1, got 0"),
    ("inner: {name: [a]}", "setting 'inner.name' must be a string, got ['a']"),
    ("inner: {colour: red}", "unknown setting 'inner.colour' for Inner (known: name, size)"),
    ("free: -.inf", "setting 'free' must be a finite number, got -inf"),
    ("patch: 1", "setting 'patch' must be >= 2 and <= 64 (or -1 or 0), got 1"),
    ("patch: 65", "setting 'patch' must be >= 2 and <= 64 (or -1 or 0), got 65"),
])
def test_bad_values_name_the_file_and_the_key(tmp_path, text, problem):
    assert _error(tmp_path, text + "\n") == problem


def test_the_cli_message_is_one_line_with_the_file(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("online_steps: ten\n")
    with pytest.raises(GazevosError) as err:
        load_config(RanetTrackerConfig, path)
    assert str(err.value) == f"{path}: setting 'online_steps' must be an integer, got 'ten'"


def test_overrides_and_checkpoint_dicts_are_checked_too():
    with pytest.raises(GazevosError) as err:
        load_config(Cfg, overrides={"rate": math.nan})
    assert str(err.value) == "command line: setting 'rate' must be a finite number, got nan"
    assert load_config(Cfg, overrides={"rate": 0.25, "steps": None}).rate == 0.25
    with pytest.raises(GazevosError, match=r"^ck.pt: setting 'widths\[0\]' must be an integer"):
        config_from_dict(MastModelConfig, {"widths": ["a", 64, 64]}, "ck.pt")
    cfg = MastModelConfig()
    assert config_from_dict(MastModelConfig, config_to_dict(cfg), "ck.pt") == cfg


def test_a_long_value_is_shortened_in_the_message(tmp_path):
    problem = _error(tmp_path, f"mode: [{', '.join(['abcdef'] * 30)}]\n")
    assert problem.startswith("setting 'mode' must be a string, got ['abcdef', ")
    assert problem.endswith("...") and len(problem) < 110


def test_post_init_checks_become_one_line_errors(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Checked:
        low: int = 0
        high: int = 1

        def __post_init__(self) -> None:
            if self.low > self.high:
                raise ValueError("low must not exceed high")

    with pytest.raises(GazevosError) as err:
        load_config(Checked, overrides={"low": 5})
    assert str(err.value) == "command line: bad settings for Checked: low must not exceed high"


def test_check_config_checks_every_field():
    check_config(Cfg())
    with pytest.raises(GazevosError, match="setting 'inner.size' must be >= 1, got 0"):
        check_config(Cfg(inner=Inner(size=0)))
    with pytest.raises(GazevosError, match="setting 'steps' must be an integer, got '3'"):
        check_config(Cfg(steps="3"))  # type: ignore[arg-type]


#: every shipped preset and the config class it is for
PRESETS = {
    "classic": ClassicConfig, "classic_mast": ClassicConfig, "mast": MastTrainConfig,
    "mast_tracker_fast": MastTrackerConfig, "ranet_disc_nms": RanetTrackerConfig,
    "ranet_no_online": RanetTrackerConfig, "ranet_nobox": RanetTrackerConfig,
    "ranet_noprev": RanetTrackerConfig, "ranet_noprev_nobox": RanetTrackerConfig,
    "ranet_release": RanetTrackerConfig, "ranet_train_box": RanetTrainConfig,
    "ranet_train_mast": RanetTrainConfig, "ranet_train_u2netp": RanetTrainConfig,
    "semseg": SemsegTrainConfig, "fusion": FusionConfig,
}


def test_every_shipped_preset_loads():
    shipped = {p.stem for p in preset_path("classic").parent.glob("*.yaml")}
    assert shipped == set(PRESETS), "add the new preset (and its config class) to PRESETS"
    for name, cls in PRESETS.items():
        cfg = load_config(cls, name)
        check_config(cfg, name)


@pytest.mark.parametrize("cls", [
    ClassicConfig, FlowConfig, MastTrackerConfig, FusionConfig, RanetTrackerConfig,
    MastTrainConfig,
    RanetTrainConfig, SemsegTrainConfig, RANetConfig, MastModelConfig, HRNetConfig, SyncConfig])
def test_defaults_keep_their_own_types_and_limits(cls):
    check_config(cls())


def test_classic_limits():
    with pytest.raises(GazevosError, match="setting 'boost_rounds' must be >= 1 and <= 10000, "
                                           "got 0"):
        load_config(ClassicConfig, overrides={"boost_rounds": 0})
    with pytest.raises(GazevosError, match="setting 'dis_preset' must be one of 'ultrafast', "
                                           "'fast', 'medium', got 'fastest'"):
        load_config(ClassicConfig, overrides={"dis_preset": "fastest"})
    with pytest.raises(GazevosError, match=r"setting 'prior_max' must be > 0 and < 1, got 1.0"):
        load_config(ClassicConfig, overrides={"prior_max": 1})


def test_flow_limits_keep_opencv_from_crashing():
    """DIS optical flow crashed (segmentation fault) with a stride over the patch size, a
    1-px patch or a zero stride given to OpenCV; these are refused at load."""
    with pytest.raises(GazevosError) as err:
        load_config(FlowConfig, overrides={"patch_stride": 64})
    assert str(err.value) == ("command line: bad settings for FlowConfig: patch_stride (64) "
                              "must not exceed the patch size (8)")
    with pytest.raises(GazevosError, match="setting 'patch_size' must be >= 2"):
        load_config(FlowConfig, overrides={"patch_size": 1})
    cfg = load_config(FlowConfig, overrides={"patch_size": 16, "patch_stride": 12})
    assert (cfg.patch_size, cfg.patch_stride) == (16, 12)
    with pytest.raises(GazevosError, match="setting 'dis_patch_stride' must be >= -1 and <= 8"):
        load_config(ClassicConfig, overrides={"dis_patch_stride": 64})


def test_mast_search_windows():
    """A zero dilation step divided by zero and an even key window broke a reshape."""
    with pytest.raises(GazevosError) as err:
        load_config(MastTrackerConfig, overrides={"search": {"key_window": 4}})
    assert str(err.value) == ("command line: setting 'search': key_window must be odd, "
                              "got 4")
    with pytest.raises(GazevosError, match="setting 'search.dilation_step' must be >= 1, "
                                           "got 0"):
        load_config(MastTrackerConfig, overrides={"search": {"dilation_step": 0}})
    with pytest.raises(GazevosError, match="setting 'threads' must be >= 0 and <= 1024"):
        load_config(MastTrackerConfig, overrides={"threads": -1})
    cfg = load_config(MastTrackerConfig, overrides={"search": {"roi_window": 7}})
    assert cfg.search.roi_window == 7 and cfg.search.key_window == 5  # the rest kept


def test_ranet_limits():
    """threads -1 was a torch error, threads 1e9 a libgomp abort, online_steps 1e9 a hang."""
    for key, value, problem in (
            ("threads", -1, "must be >= 0 and <= 1024, got -1"),
            ("threads", 10**9, "must be >= 0 and <= 1024, got 1000000000"),
            ("online_steps", 10**9, "must be >= 0 and <= 100000, got 1000000000"),
            ("online_batch", 0, "must be >= 1 and <= 64, got 0"),
            ("online_loss", "l2", "must be one of 'iou', 'log_iou', 'bce', got 'l2'"),
            ("input_size", [352, -608], "must be >= 0 and <= 4096, got -608")):
        with pytest.raises(GazevosError) as err:
            load_config(RanetTrackerConfig, overrides={key: value})
        name = f"{key}[1]" if key == "input_size" else key
        assert str(err.value) == f"command line: setting '{name}' {problem}"


@pytest.mark.parametrize(("content", "problem"), [
    (b"\xff\xfe\x00bad", "not a text file (byte 0 is not UTF-8)"),
    (b"a: [1, 2\n", "not valid YAML (ParserError, line 2 column 1: expected ',' or ']', but "
                    "got '<stream end>')"),
    (b"a: 1\n\tb: 2\n", "not valid YAML (ScannerError, line 2 column 1: found character "
                       "'\\t' that cannot start any token)"),
    (b"just text\n", "expected a mapping for Cfg, got str"),
    (b"- 1\n", "expected a mapping for Cfg, got list"),
])
def test_unreadable_config_files(tmp_path, content, problem):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(GazevosError) as err:
        load_config(Cfg, path)
    assert err.value.path == str(path) and err.value.problem == problem


def test_an_empty_file_is_the_defaults(tmp_path):
    (tmp_path / "c.yaml").write_text("# nothing\n")
    assert load_config(Cfg, tmp_path / "c.yaml") == Cfg()


def test_an_unknown_preset_lists_the_shipped_ones():
    with pytest.raises(GazevosError) as err:
        load_config(ClassicConfig, "clasic")
    assert str(err.value).startswith("no config file or shipped preset named 'clasic' "
                                     "(presets: classic, classic_mast, fusion, mast, ")
