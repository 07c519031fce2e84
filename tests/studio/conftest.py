"""Fixtures of the studio tests: a small demo recording (320x180, 2 s, 60 frames), an open
studio on it with the fast ``flow`` tracker, and a guarded test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _studio_helpers import BASE, PORT  # noqa: F401 - used by the fixtures below

from gazevos.gaze.demo import DemoSample, make_demo_sample


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
