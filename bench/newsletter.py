"""Newsletter sender benchmark (not a test).

Sends one issue to N synthetic subscribers through the mail engine (``Sender(...).run()``, the
same code as ``flask newsletter send``) into a local aiosmtpd sink running in its own process,
then sends the same messages with a bare smtplib loop to the same sink, and reports messages per
second for both (half of the bare loop runs before the sender and half after, so a change in the
machine's load weighs on both). With ``--parallel 2,4`` it also runs 2 and 4 senders at once
(separate processes, each with its own SMTP connection and claims) against 2 and 4 bare loops in
parallel processes. Separately, it measures one sender's peak Python memory (tracemalloc, ledger
freeze + send) for two values of N, to show that memory does not grow with the list.

    .venv/bin/python bench/newsletter.py                              # N = 10 000, SQLite, ~1 min
    .venv/bin/python bench/newsletter.py --count 100000 --memory-counts 2000,20000
    .venv/bin/python bench/newsletter.py --postgres --parallel 1,2,4  # a throwaway PostgreSQL database
    .venv/bin/python bench/newsletter.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Each run uses a fresh database: a temporary SQLite file; with ``--postgres`` a database created
for the run on the server of ``--postgres-url`` (default: postgres@127.0.0.1:5432) and dropped
afterwards; with ``--database-url`` the given database, whose tables are DROPPED and re-created
for each run — never point it at real data.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
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

from bench import throwaway  # noqa: E402
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
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Child processes start with "spawn": a fresh interpreter, nothing inherited from this one's
# connections or threads. Their start-up is not timed (they wait at a barrier).
SPAWN = multiprocessing.get_context("spawn")


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


@contextmanager
def throwaway_postgres(server_url: str = DEFAULT_POSTGRES) -> Iterator[str]:
    """A PostgreSQL database created for this run on ``server_url``'s server, dropped afterwards."""
    with throwaway.throwaway_postgres(server_url) as url:
        yield url


def settings(port: int, database_url: str | None, folder: Path, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "INSTANCE_PATH": str(folder / "instance"),
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789abcdef",
        "DATABASE_URL": database_url or f"sqlite:///{folder / 'bench.sqlite3'}",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        # No web requests here, so no delivery thread would start anyway; say so.
        "MAIL_WORKER_THREADS": 0,
        "LOG_LEVEL": "WARNING",
    }
    values.update(overrides)
    return values


def make_app(port: int, database_url: str | None, folder: Path, create: bool = True, **overrides: Any) -> Any:
    app = create_app(settings(port, database_url, folder, **overrides))
    if create:
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


def _batch(count: int, senders: int) -> int:
    # 500 for one sender (as in the earlier figures, and the same for every N of the memory runs);
    # smaller for several, so that each of them gets batches.
    return 500 if senders == 1 else max(20, min(500, math.ceil(count / (senders * 5))))


def _sender_child(port: int, database_url: str | None, folder: str, issue_id: int, batch: int,
                  ready: Any, results: Any) -> None:
    app = make_app(port, database_url, Path(folder), create=False)
    with app.app_context():
        ready.wait()
        began = time.monotonic()
        outcome = Sender(issue_id, SendOptions(batch_size=batch)).run()
        ended = time.monotonic()
        db.session.remove()
        db.engine.dispose()
    results.put((began, ended, outcome.sent))


def _in_parallel(target: Any, args: list[tuple[Any, ...]]) -> tuple[float, int]:
    """Start one spawned process per args tuple; time from the common start to the last end."""
    ready = SPAWN.Barrier(len(args))
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=target, args=(*a, ready, results)) for a in args]
    for process in processes:
        process.start()
    got = [results.get(timeout=1800) for _ in processes]
    for process in processes:
        process.join(60)
        if process.exitcode != 0:
            raise SystemExit(f"a benchmark process failed (exit {process.exitcode})")
    return max(e for _, e, _ in got) - min(b for b, _, _ in got), sum(n for _, _, n in got)


def sender_run(port: int, count: int, database_url: str | None, trace: bool = False,
               senders: int = 1) -> dict[str, float]:
    """Freeze the ledger for ``count`` subscribers, then send it with ``senders`` Senders at once."""
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
            if senders == 1:
                outcome = Sender(issue_id, SendOptions(batch_size=_batch(count, 1))).run()
                seconds, sent = time.perf_counter() - frozen, outcome.sent
            else:
                db.session.remove()
                seconds, sent = _in_parallel(
                    _sender_child, [(port, database_url, tmp, issue_id, _batch(count, senders))] * senders)
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
            if trace:
                tracemalloc.stop()
            counts = issues.status_counts(issue_id)
            assert start.recipients == count and sent == count, (start, sent, counts)
            assert counts == {"sent": count}, counts
            db.session.remove()  # its read transaction would block DROP TABLE on PostgreSQL
            if database_url:
                db.drop_all()
            db.engine.dispose()
    return {"freeze_s": frozen - began, "send_s": seconds, "rate": count / seconds, "peak_mib": peak / 2**20}


def bare_message(port: int) -> tuple[str, bytes]:
    """The envelope sender and the bytes of one newsletter copy, as the portal builds them."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(settings(port, None, Path(tmp)))
        with app.test_request_context():
            rendered = render_issue("Benchmark issue", BODY)
            url = f"{app.config['BASE_URL']}/newsletter/unsubscribe/{unsubscribe_token(1, 'reader0@example.com')}"
            raw = build_message(rendered, "reader0@example.com", url).raw
            return str(app.config["MAIL_ENVELOPE_SENDER"]), raw


def _bare_loop(port: int, sender: str, raw: bytes, first: int, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for i in range(first, first + count):
            rcpt = f"reader{i}@example.com"
            smtp.sendmail(sender, [rcpt], raw.replace(b"reader0@example.com", rcpt.encode()))


def _bare_child(port: int, sender: str, raw: bytes, first: int, count: int, ready: Any, results: Any) -> None:
    ready.wait()
    began = time.monotonic()
    _bare_loop(port, sender, raw, first, count)
    results.put((began, time.monotonic(), count))


def bare_run(port: int, count: int, connections: int = 1) -> dict[str, float]:
    """The same messages with nothing but smtplib, over ``connections`` connections at once (one
    process each): the transport's ceiling."""
    sender, raw = bare_message(port)
    if connections == 1:
        began = time.perf_counter()
        _bare_loop(port, sender, raw, 0, count)
        elapsed = time.perf_counter() - began
    else:
        share = [count // connections + (1 if i < count % connections else 0) for i in range(connections)]
        firsts = [sum(share[:i]) for i in range(connections)]
        elapsed, _ = _in_parallel(_bare_child, [(port, sender, raw, f, n) for f, n in zip(firsts, share, strict=True)])
    return {"send_s": elapsed, "rate": count / elapsed}


def throughput(port: int, count: int, database_url: str | None, parallel: int = 1) -> dict[str, float]:
    """Sender(s) against the bare loop with as many connections, interleaved: half the bare loop
    before, half after."""
    before = bare_run(port, max(1, count // 2), parallel)
    ours = sender_run(port, count, database_url, senders=parallel)
    after = bare_run(port, max(1, count - count // 2), parallel)
    seconds = before["send_s"] + after["send_s"]
    return {"bare_rate": count / seconds, "bare_s": seconds, "bare_before": before["rate"],
            "bare_after": after["rate"], "rate": ours["rate"], "send_s": ours["send_s"],
            "freeze_s": ours["freeze_s"], "ratio": ours["rate"] / (count / seconds)}


def _parallel_list(text: str) -> list[int]:
    values = [int(x) for x in text.split(",") if x.strip()]
    if not values or any(not 1 <= v <= 16 for v in values):
        raise ValueError(text)
    return values


def run(args: argparse.Namespace, database_url: str | None, backend: str) -> None:
    print(f"newsletter benchmark: N={args.count}, backend={backend}, sink=aiosmtpd Sink (separate process)")
    with sink() as port:
        for n in args.parallel:
            r = throughput(port, args.count, database_url, n)
            label = "1 sender" if n == 1 else f"{n} senders (processes)"
            print(f"  {label}:")
            print(f"    bare smtplib loop, {n} connection(s): {r['bare_rate']:6.0f} msg/s  ({r['bare_s']:.1f} s; "
                  f"{r['bare_before']:.0f} msg/s before the sender, {r['bare_after']:.0f} after)")
            print(f"    portal sender:                  {r['rate']:6.0f} msg/s  ({r['send_s']:.1f} s; freezing the "
                  f"ledger took {r['freeze_s']:.2f} s)")
            print(f"    ratio:                          {r['ratio']:6.0%} of the bare loop (target >= 70%)")
        if args.memory_counts != "none":
            for n in args.memory:
                mem = sender_run(port, n, database_url, trace=True)
                print(f"  peak memory, N={n:>7}: {mem['peak_mib']:6.2f} MiB (tracemalloc, freeze + send, 1 sender)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="subscribers for the throughput runs (10000)")
    parser.add_argument("--parallel", default="1",
                        help="numbers of senders at once, e.g. 1,2,4 (default 1); each n>1 runs n processes")
    parser.add_argument("--memory-counts", default=None,
                        help="two N values for the memory runs, e.g. 2000,20000 (default: N/50,N/5); none: skip")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--postgres", action="store_true",
                       help="also run on a throwaway PostgreSQL database (created and dropped)")
    group.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                       help="a throwaway database whose tables are dropped (default: a temporary SQLite file)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help=f"server for --postgres ({DEFAULT_POSTGRES})")
    parser.add_argument("--no-sqlite", action="store_true", help="with --postgres: skip the SQLite run")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    try:
        args.parallel = _parallel_list(args.parallel)
    except ValueError:
        parser.error("--parallel takes numbers 1..16, like 1,2,4")
    if args.memory_counts and args.memory_counts != "none":
        try:
            small, large = (int(x) for x in args.memory_counts.split(","))
        except ValueError:
            parser.error("--memory-counts takes two whole numbers, like 5000,50000, or none")
    else:
        # tracemalloc slows Python several times over, so the memory runs use smaller lists.
        small, large = max(1, args.count // 50), max(2, args.count // 5)
    args.memory = (small, large)
    if args.database_url:
        run(args, args.database_url, "given database")
        return
    if not (args.postgres and args.no_sqlite):
        run(args, None, "sqlite")
    if args.postgres:
        with throwaway_postgres(args.postgres_url) as url:
            run(args, url, "postgresql (throwaway database)")


if __name__ == "__main__":
    main()
