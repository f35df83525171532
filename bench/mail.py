"""Mail delivery benchmarks (not a test): latency, the reset/resend timing gap, throughput.

    .venv/bin/python bench/mail.py                     # SQLite, about 1 minute
    .venv/bin/python bench/mail.py --postgres          # then a throwaway PostgreSQL database: ~2.5 min
    .venv/bin/python bench/mail.py --only gap --pairs 400
    .venv/bin/python bench/mail.py --count 20000 --parallel 1,2,4,8

1. latency: commit -> SMTP hand-off of one transactional message ("password changed" notice,
   ``portal.mail.enqueue`` + ``db.session.commit()``), with the web process's delivery thread
   running (MAIL_WORKER_THREADS=1, ``worker_for(app).ensure_started()``). The clock starts right
   after the commit returns and stops when an in-process aiosmtpd sink has the end of DATA
   (``time.monotonic``, CLOCK_MONOTONIC, the same clock in every process). a) the enqueue in the
   worker's own process (woken after commit); b) the enqueue in ANOTHER process (a spawned one,
   no worker there), found by the worker's polling every MAIL_POLL_INTERVAL=1.0 s — so bounded by
   the poll interval plus one delivery. Target: median < 2 s.
2. gap: POST /reset-password for a registered address against an unknown one, and POST
   /confirm/resend for an unconfirmed account against an unknown address, interleaved in pairs
   (order alternating) through the app's test client, CSRF token from the GET form, rate limit
   raised. Measured twice: with MAIL_WORKER_THREADS=0 (the request's own work only) and with the
   delivery thread on (the production setup: the real message is delivered by the thread while
   the response is finished; the script pauses between requests so each starts with an idle
   thread). Target: gap between the medians < 5 %.
3. throughput: a newsletter issue through ``Sender(...).run()`` against a bare smtplib loop to the
   same aiosmtpd sink (a separate process) in the same run, with 1 and N senders at once (N
   processes, each its own SMTP connection) against N parallel bare loops (bench/newsletter.py).
   Target: >= 70 % of the bare loop.

Each part uses a fresh database: a temporary SQLite file, or with --postgres a database created
on the server (default postgres@127.0.0.1:5432) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import newsletter as nl  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from portal import create_app  # noqa: E402
from portal.accounts import service  # noqa: E402
from portal.accounts.models import User  # noqa: E402
from portal.db import utcnow  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.mail import enqueue  # noqa: E402
from portal.mail.worker import worker_for  # noqa: E402
from portal.security.passwords import hash_password  # noqa: E402

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
POLL = 1.0


# --- an in-process sink that notes when each message arrived ------------------------------------


class ArrivalSink:
    """aiosmtpd on loopback (a thread of this process); the monotonic time of each end of DATA."""

    def __init__(self) -> None:
        self.port = nl.free_port()
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        with self.cond:
            for rcpt in envelope.rcpt_tos:
                self.arrived[rcpt.lower()] = now
            self.cond.notify_all()
        return "250 Message accepted"

    def wait(self, rcpt: str, timeout: float) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: rcpt in self.arrived, timeout):
                raise SystemExit(f"no message for {rcpt} within {timeout} s")
            return self.arrived[rcpt]

    def __enter__(self) -> ArrivalSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@contextmanager
def database(backend: str, server_url: str) -> Iterator[str | None]:
    """None for a temporary SQLite file (the caller's folder), else a throwaway PostgreSQL URL."""
    if backend == "sqlite":
        yield None
    else:
        with nl.throwaway_postgres(server_url) as url:
            yield url


def build(port: int, url: str | None, folder: Path, **overrides: Any) -> Any:
    app = create_app(nl.settings(port, url, folder, MAIL_TIMEOUT=10, MAIL_POLL_INTERVAL=POLL,
                                 RATELIMIT_KEY_PREFIX=f"bench{time.time_ns()}", **overrides))
    with app.app_context():
        db.create_all()
    return app


def close(app: Any) -> None:
    worker = app.extensions.get("portal.mail.worker")
    if worker is not None:
        worker.shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"median": statistics.median(ordered), "p99": p99, "max": ordered[-1], "n": len(ordered)}


# --- 1. commit -> hand-off latency ----------------------------------------------------------------


def _probe(to: str) -> None:
    enqueue(to, "Latency probe", "password_changed", kind="account.password-changed", reset_url="https://x/reset")


def latency_same_process(app: Any, sink: ArrivalSink, samples: int) -> dict[str, float]:
    worker_for(app).ensure_started()
    times: list[float] = []
    for i in range(-5, samples):  # five untimed warm-up messages
        time.sleep(random.uniform(0.0, 0.02))  # let the thread settle into its wait
        to = f"same{i + 5}@example.com"
        with app.app_context():
            _probe(to)
            db.session.commit()
            committed = time.monotonic()
        arrived = sink.wait(to, timeout=30)
        if i >= 0:
            times.append(arrived - committed)
    return summary(times)


def _enqueue_child(port: int, url: str | None, folder: str, pipe: Any) -> None:
    """Another process on the same database, without a delivery thread: it only commits rows."""
    app = create_app(nl.settings(port, url, Path(folder), MAIL_WORKER_THREADS=0))
    pipe.send("ready")
    while (to := pipe.recv()) is not None:
        with app.app_context():
            _probe(to)
            db.session.commit()
            pipe.send(time.monotonic())
    with app.app_context():
        db.engine.dispose()


def latency_other_process(app: Any, sink: ArrivalSink, url: str | None, folder: Path,
                          samples: int) -> dict[str, float]:
    worker_for(app).ensure_started()
    ours, theirs = nl.SPAWN.Pipe()
    child = nl.SPAWN.Process(target=_enqueue_child, args=(sink.port, url, str(folder), theirs))
    child.start()
    try:
        assert ours.recv() == "ready"
        times: list[float] = []
        for i in range(samples):
            # A random moment of the worker's poll cycle.
            time.sleep(random.uniform(0.0, POLL))
            to = f"other{i}@example.com"
            ours.send(to)
            committed = ours.recv()
            times.append(sink.wait(to, timeout=POLL + 30) - committed)
        ours.send(None)
    finally:
        child.join(30)
    return summary(times)


def latency(backend: str, server_url: str, samples: int, cross: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp, ArrivalSink() as sink, database(backend, server_url) as url:
        app = build(sink.port, url, Path(tmp), MAIL_WORKER_THREADS=1)
        try:
            same = latency_same_process(app, sink, samples)
            other = latency_other_process(app, sink, url, Path(tmp), cross) if cross else None
        finally:
            close(app)
    return {"same": same, **({"other": other} if other else {})}


# --- 2. the reset / resend timing gap ---------------------------------------------------------------


def add_account(email: str, confirmed: bool) -> None:
    now = utcnow()
    db.session.add(User(email=email, email_key=service.email_key(email), password_hash=hash_password("p" * 20),
                        created_at=now, password_changed_at=now, confirmed_at=now if confirmed else None))
    db.session.commit()


def _token(client: Any, path: str) -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def pairs_gap(app: Any, path: str, known: str, unknown: str, pairs: int, pause: float) -> dict[str, float]:
    client = app.test_client()
    timings: dict[str, list[float]] = {known: [], unknown: []}

    def post(address: str, record: bool) -> None:
        token = _token(client, path)  # untimed, like a browser loading the form
        began = time.perf_counter()
        response = client.post(path, data={"csrf_token": token, "email": address})
        elapsed = time.perf_counter() - began
        assert response.status_code in (200, 303), (path, response.status_code)  # 303: post/redirect/get
        if record:
            timings[address].append(elapsed)
        if pause:
            time.sleep(pause)  # the delivery thread finishes before the next request

    for _ in range(10):  # warm-up: templates compiled, caches filled
        post(known, False)
        post(unknown, False)
    differences = []
    for i in range(pairs):
        order = (known, unknown) if i % 2 == 0 else (unknown, known)
        for address in order:
            post(address, True)
        differences.append(timings[known][-1] - timings[unknown][-1])
    k, u = statistics.median(timings[known]), statistics.median(timings[unknown])
    return {"known_ms": k * 1000, "unknown_ms": u * 1000, "gap": (k - u) / u,
            "paired": statistics.median(differences) / u, "known_mean_ms": statistics.fmean(timings[known]) * 1000,
            "unknown_mean_ms": statistics.fmean(timings[unknown]) * 1000, "pairs": pairs}


def gap(backend: str, server_url: str, pairs: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with nl.sink() as port:
        for threads in (0, 1):
            with tempfile.TemporaryDirectory() as tmp, database(backend, server_url) as url:
                app = build(port, url, Path(tmp), MAIL_WORKER_THREADS=threads, BCRYPT_ROUNDS=4,
                            RESET_RATE_LIMIT="100000 per hour")
                try:
                    with app.app_context():
                        add_account("known@example.com", confirmed=True)
                        add_account("pending@example.com", confirmed=False)
                    pause = 0.04 if threads else 0.0
                    results[f"reset, worker {'on' if threads else 'off'}"] = pairs_gap(
                        app, "/reset-password", "known@example.com", "nobody-here@example.com", pairs, pause)
                    results[f"resend, worker {'on' if threads else 'off'}"] = pairs_gap(
                        app, "/confirm/resend", "pending@example.com", "nobody-here@example.com", pairs, pause)
                finally:
                    close(app)
    return results


# --- the run and its table ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="also run every part on a throwaway PostgreSQL db")
    parser.add_argument("--postgres-url", default=nl.DEFAULT_POSTGRES, help="the server for --postgres")
    parser.add_argument("--only", default="latency,gap,throughput", help="comma-separated parts to run")
    parser.add_argument("--samples", type=int, default=100, help="same-process latency samples (100)")
    parser.add_argument("--cross-samples", type=int, default=10, help="cross-process latency samples (10, ~0.5 s each)")
    parser.add_argument("--pairs", type=int, default=100, help="interleaved pairs per endpoint and mode (100)")
    parser.add_argument("--count", type=int, default=2000, help="newsletter subscribers per throughput run (2000)")
    parser.add_argument("--parallel", default="1,2,4", help="senders at once for the throughput runs (1,2,4)")
    args = parser.parse_args()
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if not parts <= {"latency", "gap", "throughput"}:
        parser.error("--only takes latency, gap, throughput")
    if args.samples < 1 or args.cross_samples < 0 or args.pairs < 60 or args.count < 10:
        parser.error("--samples >= 1, --cross-samples >= 0, --pairs >= 60, --count >= 10")
    try:
        parallel = nl._parallel_list(args.parallel)
    except ValueError:
        parser.error("--parallel takes numbers 1..16, like 1,2,4")
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])

    rows: list[tuple[str, str, str, str, str]] = []  # measure, backend, figure, target, verdict

    def ok(good: bool) -> str:
        return "ok" if good else "MISSED"

    for backend in backends:
        print(f"== {backend} ==", flush=True)
        began = time.monotonic()
        if "latency" in parts:
            lat = latency(backend, args.postgres_url, args.samples, args.cross_samples)
            for key, label in (("same", "same process (woken)"), ("other", "other process (polled, 1.0 s)")):
                if key in lat:
                    s = lat[key]
                    figure = f"median {s['median'] * 1000:.1f} ms, p99 {s['p99'] * 1000:.1f} ms, max " \
                             f"{s['max'] * 1000:.1f} ms (n={s['n']})"
                    print(f"  latency, {label}: {figure}", flush=True)
                    rows.append((f"commit->SMTP, {label}", backend, figure, "median < 2 s", ok(s["median"] < 2)))
        if "gap" in parts:
            for name, g in gap(backend, args.postgres_url, args.pairs).items():
                figure = (f"known {g['known_ms']:.2f} ms / unknown {g['unknown_ms']:.2f} ms: gap {g['gap']:+.1%} "
                          f"(paired {g['paired']:+.1%})")
                print(f"  {name}: {figure} over {g['pairs']} pairs", flush=True)
                rows.append((f"timing gap, {name}", backend, figure, "|gap| < 5 %", ok(abs(g["gap"]) < 0.05)))
            print(f"  ({time.monotonic() - began:.0f} s so far)", flush=True)
        if "throughput" in parts:
            with nl.sink() as port:
                for n in parallel:
                    url_context = database(backend, args.postgres_url)
                    with url_context as url:
                        t = nl.throughput(port, args.count, url, n)
                    figure = (f"sender {t['rate']:.0f} msg/s vs bare {t['bare_rate']:.0f} msg/s: "
                              f"{t['ratio']:.0%}")
                    print(f"  newsletter N={args.count}, {n} sender(s): {figure}", flush=True)
                    rows.append((f"newsletter, {n} sender(s) vs {n} bare loop(s)", backend, figure, ">= 70 %",
                                 ok(t["ratio"] >= 0.70)))
        print(f"  ({backend}: {time.monotonic() - began:.0f} s)", flush=True)

    print()
    print(f"mail benchmark, {date.today().isoformat()}; latency samples {args.samples} + {args.cross_samples} "
          f"cross-process, {args.pairs} pairs, newsletter N={args.count}")
    widths = [max(len(r[i]) for r in [("measure", "backend", "figure", "target", ""), *rows]) for i in range(5)]
    header = ("measure", "backend", "figure", "target", "")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
