"""Redis faults: a hung Redis must not stall the site, a dead one must not multiply the limits."""

from __future__ import annotations

import itertools
import threading
import time

from tests.accounts_support import login, set_ip
from tests.redis_support import own_redis

WRONG = "not the right password"
_n = itertools.count()


def _timed_login(client, budget: float) -> tuple[float, int | None]:
    """One login POST in a thread; (seconds taken, status) or (budget, None) if still hanging."""
    result: dict[str, int] = {}

    def run() -> None:
        result["status"] = login(client, f"h{next(_n)}@example.com", WRONG).status_code

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(budget)
    return time.monotonic() - started, result.get("status")


def test_a_hung_redis_costs_a_login_well_under_two_seconds(make_app, smtp):
    with own_redis() as redis_server:
        app = make_app(LOGIN_RATE_LIMIT="5 per minute", RATELIMIT_STORAGE_URI=redis_server.url)
        client = set_ip(app.test_client(), "198.51.100.130")
        assert login(client, "warm@example.com", WRONG).status_code == 400  # a pooled connection exists
        redis_server.stop()
        try:
            for _ in range(3):
                elapsed, status = _timed_login(client, budget=5)
                assert status is not None and status < 500, status
                assert elapsed < 2, f"a login took {elapsed:.1f} s with Redis hung"
            # New connections (a fresh app) hang in connect's backlog or on the first reply.
            fresh = set_ip(make_app(LOGIN_RATE_LIMIT="5 per minute", RATELIMIT_STORAGE_URI=redis_server.url)
                           .test_client(), "198.51.100.131")
            elapsed, status = _timed_login(fresh, budget=5)
            assert status == 400 and elapsed < 2, (elapsed, status)
        finally:
            redis_server.resume()
