"""Fixtures of the studio tests: a small demo recording (320x180, 2 s, 60 frames), an open
studio on it with the fast ``flow`` tracker, and a guarded test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gazevos.gaze.demo import DemoSample, make_demo_sample

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def box_of(spec: str) -> list[float]:
    """``[x0, y0, x1, y1]`` of a ``name:x0,y0,x1,y1@F`` box spec."""
    return [float(v) for v in spec.split(":", 1)[1].split("@")[0].split(",")]


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> DemoSample:
    return make_demo_sample(tmp_path_factory.mktemp("studio") / "rec", 320, 180, duration=2.0)


@pytest.fixture
def studio(sample: DemoSample, tmp_path: Path) -> Iterator[object]:
    from gazevos.studio.service import open_studio

    st = open_studio(sample.root, tmp_path / "project", tracker="flow")
    yield st
    st.project.close()


@pytest.fixture
def token() -> str:
    return "test-token-0123456789"


@pytest.fixture
def client(studio: object, token: str) -> Iterator[object]:
    from starlette.testclient import TestClient

    from gazevos.studio.app import create_app
    from gazevos.studio.security import allowed_hosts

    app = create_app(studio, token, allowed_hosts(PORT))  # type: ignore[arg-type]
    with TestClient(app, base_url=BASE, headers={"x-gazevos-token": token}) as c:
        yield c
