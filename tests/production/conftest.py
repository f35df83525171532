"""The production-shaped environment (``prod``), built once per test process that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.production.harness import Environment, production_environment


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    # A short folder: gunicorn and nginx write sockets and pid files there.
    with production_environment(tmp_path_factory.mktemp("prod")) as env:
        yield env
