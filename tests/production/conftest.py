"""The production-shaped environment (``prod``), built once per test process that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.production.harness import Environment, production_environment
from tests.production.visits import bring_back


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    # A short folder: gunicorn and nginx write sockets and pid files there.
    with production_environment(tmp_path_factory.mktemp("prod")) as env:
        yield env


@pytest.fixture(autouse=True)
def _hosts_up_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that kills a host and then fails must not take the next tests down with it: any
    host whose gunicorn is gone when a test ends is started again, and nginx routes to it."""
    yield
    if "prod" not in request.fixturenames:
        return
    env: Environment = request.getfixturevalue("prod")
    for host in env.hosts:
        if host.web is None or not host.web.alive():
            bring_back(env, host)
