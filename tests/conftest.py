"""Shared fixtures: where ../shared is, and skips when it is absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property-based tests (tests/fuzz): a fixed seed unless HYPOTHESIS_PROFILE=random; no example
# database (runs do not depend on earlier ones); hangs are caught by pytest-timeout.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("random", parent=settings.get_profile("ci"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DAVIS_DEV = SHARED / "data" / "davis2016-dev"
PUPIL_CORE = SHARED / "data" / "pupil-core"


@pytest.fixture
def davis_dev() -> Path:
    """The DAVIS-2016 dev split in ../shared (skips when absent)."""
    if not (DAVIS_DEV / "JPEGImages").is_dir():
        pytest.skip(f"DAVIS dev data not found at {DAVIS_DEV}")
    return DAVIS_DEV


@pytest.fixture
def pupil_core() -> Path:
    """The Pupil Core sample recordings in ../shared (skips when absent)."""
    if not PUPIL_CORE.is_dir():
        pytest.skip(f"Pupil Core samples not found at {PUPIL_CORE}")
    return PUPIL_CORE


@pytest.fixture
def tiny_yaml(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The requesting test module's ``TINY_YAML`` text (a small training preset) written
    to ``tmp_path / "tiny.yaml"``."""
    path = tmp_path / "tiny.yaml"
    path.write_text(request.module.TINY_YAML)
    return path


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run the test with one torch thread (tiny models: threads only add overhead)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def default_signals() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt and SIGTERM/SIGHUP have their default action inside
    the test, as in a foreground terminal, also when pytest itself runs in the background
    (``cmd &`` ignores SIGINT, ``nohup`` SIGHUP: the code under test rightly leaves an
    ignored signal ignored)."""
    import signal

    wanted = {signal.SIGINT: signal.default_int_handler}
    before = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
