"""Debian's Chromium for the tests that need a real browser: where it is, how it is started.

The flags keep it from reaching the network on its own (this machine allows only loopback) and
from doing work no test needs.
"""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    """Skip with the reason when Chromium is missing; fail instead where CI requires it."""
    if os.access(CHROMIUM, os.X_OK):
        return
    if os.environ.get("PORTAL_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is missing but PORTAL_TEST_REQUIRE_BROWSER=1")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
