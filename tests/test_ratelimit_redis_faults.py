"""Redis faults: a hung Redis must not stall the site, a dead one must not multiply the limits."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from portal.ratelimit_share import per_process, share
from tests.accounts_support import login, set_ip
from tests.helpers import free_port
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


@pytest.mark.parametrize(
    ("rate", "workers", "expected"),
    [
        ("10 per minute;50 per hour", 1, "10 per minute;50 per hour"),
        ("10 per minute;50 per hour", 4, "2 per 60 second;12 per 3600 second"),
        ("10 per minute", 3, "3 per 60 second"),
        ("3 per minute", 4, "1 per 120 second"),
        ("1 per hour", 5, "1 per 18000 second"),
        ("5 per hour;20 per day", 5, "1 per 3600 second;4 per 86400 second"),
    ],
)
def test_the_fallback_share_of_a_rate(rate, workers, expected):
    assert per_process(rate, workers) == expected


@pytest.mark.parametrize("amount", [1, 2, 3, 7, 10, 50, 101])
@pytest.mark.parametrize("workers", [1, 2, 3, 4, 9, 17])
def test_the_shares_of_all_workers_never_exceed_the_limit(amount, workers):
    from limits import parse

    item = parse(f"{amount} per minute")
    part = parse(share(item, workers))
    # Requests all workers together allow per configured window, on average over a long time.
    combined_per_window = workers * part.amount * item.get_expiry() / part.get_expiry()
    assert combined_per_window <= amount
    assert part.amount >= 1  # never a limit that refuses everything


def test_in_memory_fallback_enforces_only_this_processs_share(make_app, smtp):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = make_app(LOGIN_RATE_LIMIT="4 per minute", RATELIMIT_STORAGE_URI=dead, WORKER_PROCESSES=2)
    client = set_ip(app.test_client(), "198.51.100.132")
    statuses = [login(client, f"f{next(_n)}@example.com", WRONG).status_code for _ in range(4)]
    assert statuses == [400, 400, 429, 429]  # 2 here + 2 in the other worker = the configured 4
    refused = login(client, "f-last@example.com", WRONG)
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_one_worker_keeps_the_whole_limit_in_the_fallback(make_app, smtp):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = make_app(LOGIN_RATE_LIMIT="3 per minute", RATELIMIT_STORAGE_URI=dead, WORKER_PROCESSES=1)
    client = set_ip(app.test_client(), "198.51.100.133")
    assert [login(client, f"g{next(_n)}@example.com", WRONG).status_code for _ in range(4)] == [400] * 3 + [429]


@pytest.mark.slow
def test_two_gunicorn_workers_without_redis_allow_the_configured_limit_in_all(tmp_path):
    """The real process model: 2 workers, Redis absent, every request a new connection."""
    import os
    import re
    import subprocess
    import sys
    import urllib.error
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    bin_dir = Path(sys.executable).parent
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({
        "PORTAL_INSTANCE_PATH": str(tmp_path),
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_WORKERS": "2",
        "PORTAL_RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0",  # nobody listens
        "PORTAL_LOGIN_RATE_LIMIT": "4 per minute",
        "PORTAL_BCRYPT_ROUNDS": "4",
    })
    subprocess.run([str(bin_dir / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=root, env=env, check=True,
                   capture_output=True, timeout=60)
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(bin_dir / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
                                  cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    page = opener.open(f"{base}/login", timeout=5).read().decode()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            statuses = []
            for i in range(40):  # each urlopen is a new connection: both workers get their turns
                body = urllib.parse.urlencode({"csrf_token": token, "email": f"gw{i}@example.com",
                                               "password": WRONG}).encode()
                try:
                    statuses.append(opener.open(f"{base}/login", data=body, timeout=10).status)
                except urllib.error.HTTPError as error:
                    statuses.append(error.code)
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = log_path.read_text()
    assert text.count("falling back to in-memory") == 2, text  # both workers served and fell back
    assert set(statuses) <= {400, 429} and statuses.count(429) >= 36, statuses
    assert statuses.count(400) <= 4  # the configured 4, not 4 per worker
    assert "Traceback" not in text
