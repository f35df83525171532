"""Login cost benchmark (not a test): the real app against raw bcrypt, and the price of a 429.

    .venv/bin/python bench/login.py [--logins 20] [--rounds 12] [--flood 200]

1. Logins per second through the real app (Flask test client: CSRF, per-IP limit, throttle
   query, bcrypt, session row, login record) against ``bcrypt.checkpw`` at the same cost,
   interleaved in the same run so both see the same machine load. Target: overhead < 10 %.
2. The cost of a refused (429) request while one IP floods POST /login and another IP logs in
   at the same time (two threads): the refusal must be cheap (no bcrypt, no database).

Uses a throw-away SQLite database and memory:// counters unless PORTAL_DATABASE_URL /
PORTAL_RATELIMIT_STORAGE_URI say otherwise (the tables are created if missing).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import bcrypt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app
from portal.extensions import db
from portal.security import passwords

PASSWORD = "correct horse battery staple 42"  # noqa: S105 - the benchmark's throw-away account
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def build_app(instance: Path, rounds: int, login_limit: str) -> Any:
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789abcdef",
            "BCRYPT_ROUNDS": rounds,
            "LOGIN_RATE_LIMIT": login_limit,
            "LOG_LEVEL": "WARNING",
            "RATELIMIT_KEY_PREFIX": f"bench{time.time_ns()}",
        }
    )
    with app.app_context():
        db.create_all()
    return app


def make_user(app: Any, email: str) -> str:
    """Create a confirmed account at the configured cost; returns its hash."""
    from portal.accounts import service
    from portal.accounts.models import User
    from portal.db import utcnow

    with app.test_request_context("/"):
        user = service.find_user(email)
        if user is None:
            user = User(
                email=email, email_key=email, password_hash=service.hash_password(PASSWORD), confirmed_at=utcnow()
            )
            db.session.add(user)
            db.session.commit()
        hashed = user.password_hash
        db.session.remove()
    return hashed


def prepared_login(app: Any, ip: str) -> tuple[Any, dict[str, str]]:
    """A browser that has loaded the login page (untimed), ready to post the form."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token, "no CSRF token on /login"
    return client, {"csrf_token": token.group(1), "email": "bench@example.com", "password": PASSWORD}


def throughput(app: Any, logins: int) -> dict[str, float]:
    stored = make_user(app, "bench@example.com").encode()
    with app.test_request_context("/"):
        prehashed = passwords._prehash(PASSWORD)  # the same input bcrypt sees inside the app
    raw_times: list[float] = []
    app_times: list[float] = []
    prepared_login(app, "192.0.2.1")  # warm-up: templates compiled, dummy hash made
    for i in range(logins):
        start = time.perf_counter()
        assert bcrypt.checkpw(prehashed, stored)
        raw_times.append(time.perf_counter() - start)

        client, form = prepared_login(app, f"192.0.2.{i % 200 + 1}")
        start = time.perf_counter()
        response = client.post("/login", data=form)
        app_times.append(time.perf_counter() - start)
        assert response.status_code == 302, response.status_code
    raw_median, app_median = statistics.median(raw_times), statistics.median(app_times)
    # Paired: each login against the raw check just before it, so load swings on a shared
    # machine hit both sides of a pair alike.
    paired = statistics.median(a - r for a, r in zip(app_times, raw_times, strict=True))
    raw_mean, app_mean = statistics.fmean(raw_times), statistics.fmean(app_times)
    return {
        "raw_per_s": 1 / raw_mean,
        "app_per_s": 1 / app_mean,
        "overhead_mean_pct": (app_mean - raw_mean) / raw_mean * 100,
        "overhead_median_pct": (app_median - raw_median) / raw_median * 100,
        "overhead_paired_pct": paired / raw_median * 100,
        "overhead_paired_ms": paired * 1000,
        "raw_median_ms": raw_median * 1000,
        "app_median_ms": app_median * 1000,
    }


def flood(app: Any, flood_requests: int, logins: int) -> dict[str, float]:
    make_user(app, "bench@example.com")
    attacker, form = prepared_login(app, "198.51.100.1")
    # The flood guesses at another account, so the per-account throttle stays out of the picture.
    form = dict(form, email="victim@example.com", password="wrong password, again and again")  # noqa: S106
    # Use up the attacker's budget first, so every timed request is a refusal.
    while attacker.post("/login", data=form).status_code != 429:
        pass
    refused: list[float] = []
    login_times: list[float] = []
    done = threading.Event()

    def attack() -> None:
        while not done.is_set() and len(refused) < flood_requests:
            start = time.perf_counter()
            status = attacker.post("/login", data=form).status_code
            refused.append(time.perf_counter() - start)
            assert status == 429, status

    def owner() -> None:
        for _ in range(logins):
            client, owner_form = prepared_login(app, "203.0.113.1")
            start = time.perf_counter()
            status = client.post("/login", data=owner_form).status_code
            login_times.append(time.perf_counter() - start)
            assert status == 302, status

    threads = [threading.Thread(target=attack), threading.Thread(target=owner)]
    for thread in threads:
        thread.start()
    threads[1].join()
    done.set()
    threads[0].join()
    refused.sort()
    return {
        "refused": len(refused),
        "refused_median_ms": statistics.median(refused) * 1000,
        "refused_p95_ms": refused[int(len(refused) * 0.95) - 1] * 1000,
        "owner_logins": len(login_times),
        "owner_median_ms": statistics.median(login_times) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=20, help="logins to time (default 20)")
    parser.add_argument("--rounds", type=int, default=12, help="bcrypt cost (default 12)")
    parser.add_argument("--flood", type=int, default=200, help="refused requests to time at most (default 200)")
    args = parser.parse_args(argv)
    if not 1 <= args.logins <= 1000 or not 4 <= args.rounds <= 16 or not 1 <= args.flood <= 100_000:
        parser.error("--logins 1..1000, --rounds 4..16, --flood 1..100000")

    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp) / "a", args.rounds, "100000 per minute")
        print(f"login throughput, bcrypt cost {args.rounds}, {args.logins} logins, interleaved with raw checkpw")
        t = throughput(app, args.logins)
        print(f"  raw bcrypt.checkpw : {t['raw_per_s']:7.2f} /s   (median {t['raw_median_ms']:.1f} ms)")
        print(f"  POST /login (app)  : {t['app_per_s']:7.2f} /s   (median {t['app_median_ms']:.1f} ms)")
        print(
            f"  overhead           : {t['overhead_mean_pct']:+.1f} % on the mean, "
            f"{t['overhead_median_pct']:+.1f} % on the median, {t['overhead_paired_pct']:+.1f} % "
            f"({t['overhead_paired_ms']:.1f} ms) paired median (target < 10 %)"
        )

        flood_app = build_app(Path(tmp) / "b", args.rounds, "5 per minute")
        owner_logins = 5
        f = flood(flood_app, args.flood, owner_logins)
        print(f"refused requests while one IP floods and another logs in ({owner_logins} logins)")
        print(
            f"  429 from the flooding IP : median {f['refused_median_ms']:.2f} ms, "
            f"p95 {f['refused_p95_ms']:.2f} ms over {f['refused']} requests"
        )
        print(f"  the other IP's logins    : median {f['owner_median_ms']:.1f} ms, all {f['owner_logins']} succeeded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
