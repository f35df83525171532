"""Newsletter sender benchmark (not a test).

Sends one issue to N synthetic subscribers into a local aiosmtpd sink running in its own process,
then sends the same messages with a bare smtplib loop over one connection to the same sink, and
reports messages per second for both. Separately, it measures the sender's peak Python memory
(tracemalloc) for two values of N, to show that memory does not grow with the list.

    .venv/bin/python bench/newsletter.py                     # N = 100000
    .venv/bin/python bench/newsletter.py --count 20000 --memory-counts 1000,10000
    .venv/bin/python bench/newsletter.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Each run uses a fresh database (a temporary SQLite file, or the given PostgreSQL database,
whose newsletter and user tables are emptied first — never point it at real data).
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from portal import create_app  # noqa: E402
from portal.accounts.models import User  # noqa: E402
from portal.db import utcnow  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.newsletter import issues  # noqa: E402
from portal.newsletter.models import Subscription  # noqa: E402
from portal.newsletter.render import build_message, render_issue  # noqa: E402
from portal.newsletter.sender import Sender, SendOptions  # noqa: E402
from portal.newsletter.subscriptions import unsubscribe_token  # noqa: E402

BODY = """# This month at the portal

A few paragraphs of **news**, a [link](https://example.org/news) and a list:

- one thing
- another thing

Thank you for reading.
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sink() -> Iterator[int]:
    """aiosmtpd's discarding Sink handler in a separate process, so it does not share our GIL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("the aiosmtpd sink did not start") from None
            time.sleep(0.05)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_app(port: int, database_url: str | None, folder: Path) -> Any:
    app = create_app(
        {
            "INSTANCE_PATH": str(folder / "instance"),
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789abcdef",
            "DATABASE_URL": database_url or f"sqlite:///{folder / 'bench.sqlite3'}",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        if database_url:
            db.drop_all()
        db.create_all()
    return app


def add_subscribers(count: int) -> None:
    now = utcnow()
    chunk = 5000
    for start in range(0, count, chunk):
        rows = [
            {"id": i + 1, "email": f"reader{i}@example.com", "email_key": f"reader{i}@example.com",
             "password_hash": "unused", "created_at": now, "confirmed_at": now, "password_changed_at": now,
             "is_admin": False}
            for i in range(start, min(count, start + chunk))
        ]
        db.session.execute(insert(User), rows)
        db.session.execute(
            insert(Subscription), [{"user_id": r["id"], "active": True, "changed_at": now} for r in rows]
        )
    db.session.commit()


def sender_run(port: int, count: int, database_url: str | None, trace: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(port, database_url, Path(tmp))
        with app.app_context():
            add_subscribers(count)
            issue_id = issues.create_issue("Benchmark issue", BODY).id
            if trace:
                tracemalloc.start()
            began = time.perf_counter()
            start = issues.start_issue(issue_id)
            frozen = time.perf_counter()
            outcome = Sender(issue_id, SendOptions(batch_size=500)).run()
            ended = time.perf_counter()
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
            if trace:
                tracemalloc.stop()
            assert start.recipients == count and outcome.sent == count, (start, outcome)
            if database_url:
                db.drop_all()
            db.session.remove()
            db.engine.dispose()
    return {"freeze_s": frozen - began, "send_s": ended - frozen, "rate": count / (ended - frozen),
            "peak_mib": peak / 2**20}


def bare_run(port: int, count: int) -> dict[str, float]:
    """The same messages over one connection with nothing but smtplib: the transport's ceiling."""
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(port, None, Path(tmp))
        with app.test_request_context():
            rendered = render_issue("Benchmark issue", BODY)
            url = f"{app.config['BASE_URL']}/newsletter/unsubscribe/{unsubscribe_token(1, 'reader0@example.com')}"
            message = build_message(rendered, "reader0@example.com", url)
            sender = app.config["MAIL_DEFAULT_SENDER"]
            raw = message.as_bytes()
        began = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for i in range(count):
                rcpt = f"reader{i}@example.com"
                smtp.sendmail(sender, [rcpt], raw.replace(b"reader0@example.com", rcpt.encode()))
        elapsed = time.perf_counter() - began
    return {"send_s": elapsed, "rate": count / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="subscribers for the throughput run")
    parser.add_argument("--memory-counts", default=None,
                        help="two N values for the memory runs, e.g. 2000,20000 (default: N/50,N/5)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="a throwaway PostgreSQL database (default: a temporary SQLite file)")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.memory_counts:
        try:
            small, large = (int(x) for x in args.memory_counts.split(","))
        except ValueError:
            parser.error("--memory-counts takes two whole numbers, like 5000,50000")
    else:
        # tracemalloc slows Python several times over, so the memory runs use smaller lists.
        small, large = max(1, args.count // 50), max(2, args.count // 5)
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"newsletter benchmark: N={args.count}, backend={backend}, sink=aiosmtpd Sink (separate process)")
    with sink() as port:
        # Half of the bare loop before the sender and half after, so a change in the machine's
        # load during the run weighs on both sides alike.
        before = bare_run(port, max(1, args.count // 2))
        ours = sender_run(port, args.count, args.database_url, trace=False)
        after = bare_run(port, max(1, args.count - args.count // 2))
        seconds = before["send_s"] + after["send_s"]
        bare = {"send_s": seconds, "rate": args.count / seconds}
        print(f"bare smtplib loop:  {bare['rate']:8.0f} msg/s  ({bare['send_s']:.1f} s; "
              f"{before['rate']:.0f} msg/s before the sender, {after['rate']:.0f} after)")
        print(f"portal sender:      {ours['rate']:8.0f} msg/s  ({ours['send_s']:.1f} s; freezing the ledger "
              f"took {ours['freeze_s']:.2f} s)")
        print(f"ratio:              {ours['rate'] / bare['rate']:8.0%} of the bare loop (target >= 70%)")
        for n in (small, large):
            mem = sender_run(port, n, args.database_url, trace=True)
            print(f"peak memory, N={n:>7}: {mem['peak_mib']:6.2f} MiB (tracemalloc, freeze + send)")


if __name__ == "__main__":
    main()
