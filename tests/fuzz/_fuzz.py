"""Helpers shared by the property-based fuzz tests (tests/fuzz).

Every fuzz test runs at two levels, as two pytest items of one parametrised test:

* ``ci``: a fixed seed (``derandomize``) and a small number of examples, in the default run;
* ``long``: ten times the examples with a random seed, marked ``fuzz_long`` (deselected by
  default; ``python -m pytest -m fuzz_long tests/fuzz``).

Generated cases are counted per test (:func:`count`) and the counts printed at the end of
the session by ``tests/fuzz/conftest.py``.
"""

from __future__ import annotations

import importlib.util
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from gazevos.errors import GazevosError

T = TypeVar("T")

#: the two levels of every fuzz test (``long`` is marked ``fuzz_long``)
LEVELS = [pytest.param(False, id="ci"),
          pytest.param(True, id="long", marks=pytest.mark.fuzz_long)]
#: how many times more examples the long run draws
LONG_FACTOR = int(os.environ.get("GAZEVOS_FUZZ_LONG_FACTOR", "10"))
#: generated cases per test name, for the end-of-session summary
CASES: Counter[str] = Counter()


def fuzz_settings(long: bool, ci: int, deadline_s: float | None = None) -> settings:
    """Hypothesis settings: ``ci`` examples with a fixed seed, or ``LONG_FACTOR`` times as many
    with a random seed for the long run.  ``deadline_s`` bounds one example (None: the
    test's pytest-timeout is the only limit)."""
    return settings(max_examples=ci * LONG_FACTOR if long else ci, derandomize=not long,
                    database=None, print_blob=True,
                    deadline=None if deadline_s is None else deadline_s * 1000.0,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def count(name: str) -> None:
    """Count one generated case of the test ``name``."""
    CASES[name] += 1


def library_outcome(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | GazevosError:
    """Call ``fn``: its result, or the :class:`GazevosError` it raised, checked to be one
    line.  Any other exception propagates (and fails the test): it is a bug."""
    try:
        return fn(*args, **kwargs)
    except GazevosError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
        return exc


ERROR_PREFIX = "gazevos: error: "
WARNING_PREFIX = "gazevos: warning: "


def cli_outcome(rc: int, err: str) -> str:
    """Classify a CLI run by its exit code and stderr: ``"ok"`` (exit 0, no error line) or
    ``"error"`` (exit 2 and exactly one ``gazevos: error:`` line; ``gazevos: warning:`` lines
    allowed).  Anything else (a traceback, "internal error", another exit code, several
    lines, click's own usage block) fails the calling test."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    if rc == 0:
        assert not any(ln.startswith(ERROR_PREFIX) for ln in lines), err
        return "ok"
    assert rc == 2, f"exit code {rc}, stderr:\n{err}"
    errors = [ln for ln in lines if ln.startswith(ERROR_PREFIX)]
    others = [ln for ln in lines if not ln.startswith((ERROR_PREFIX, WARNING_PREFIX))]
    assert len(errors) == 1 and not others, f"expected one error line, got:\n{err}"
    return "error"


def snapshot(path: Path) -> dict[str, tuple[int, int]] | None:
    """What a folder holds (relative path -> (size, mtime ns)), or None when it is absent."""
    try:
        if not path.exists():
            return None
    except OSError:  # a name the system refuses (too long): nothing can be there
        return None
    if not path.is_dir():
        st = path.stat()
        return {".": (st.st_size, st.st_mtime_ns)}
    out = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(path))] = (st.st_size if p.is_file() else -1, st.st_mtime_ns)
    return out


def load_module(path: Path, name: str) -> ModuleType:
    """Import a Python file under a unique module name (e.g. another folder's builders)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TESTS = Path(__file__).resolve().parents[1]
#: the recording builders of tests/io/recordings (tiny recordings with known values)
builders = load_module(TESTS / "io" / "recordings" / "conftest.py", "_fuzz_recording_builders")
