"""Fixtures every browser test shares: one Chromium per module, the SQLite backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.chromium import ARGS, CHROMIUM, require_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        yield chromium
        chromium.close()


@pytest.fixture
def backend() -> str:
    # A browser test exercises pages, not the database: the embedded SQLite backend is enough.
    return "sqlite"
