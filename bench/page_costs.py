"""Per-page cost in one process (not a test): the test client, no server, no network.

    .venv/bin/python bench/page_costs.py                          # CPU ms per request, every page
    .venv/bin/python bench/page_costs.py account email --count 500
    .venv/bin/python bench/page_costs.py --instructions home      # callgrind: instructions a request
    .venv/bin/python bench/page_costs.py --profile account        # cProfile, by cumulative time
    .venv/bin/python bench/page_costs.py --postgres               # on a throwaway PostgreSQL db

``bench/pages.py`` measures what an operator sees (gunicorn, wrk, the peers), but its figures move
with the machine's load. This script answers "did this change make that page cheaper?" in a minute:
the same seeded accounts as pages.py (light: 10 rows of each history, heavy: ``--heavy``), each
page requested ``--count`` times in 3 rounds, the best round's ``process_time`` per request, and the
ratio to a bare Flask hello in the same process. ``--instructions`` runs the script under
``valgrind --tool=callgrind`` with counting switched on only around each page's ``--count``
requests, and prints instructions per request: the same figure for the same code whatever else
the machine does.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import pages as bench_pages  # noqa: E402 - the seed and settings of the wrk benchmark
from throwaway import throwaway_postgres  # noqa: E402

PAGES: dict[str, tuple[str, str]] = {
    # name: (path, who) — who: "hello" (bare Flask), "anon" (a new visitor each request), "returning"
    # (the session cookie of one earlier visit), "light", "heavy"
    "hello": ("/", "hello"),
    "home": ("/", "anon"),
    "home-returning": ("/", "returning"),
    "login": ("/login", "anon"),
    "account": ("/account", "light"),
    "security": ("/account/security", "light"),
    "sessions": ("/account/sessions", "light"),
    "email": ("/account/email", "light"),
    "data": ("/account/data", "light"),
    "account-heavy": ("/account", "heavy"),
    "sessions-heavy": ("/account/sessions", "heavy"),
}
WARM_UP = 20


def build(database_url: str, work: Path, heavy: int, seeded: bool = False) -> Any:
    env = bench_pages.portal_env(database_url, work)
    env["PORTAL_BCRYPT_ROUNDS"] = "4"  # signing in is not what is measured
    if seeded:
        os.environ.update(env)
    else:
        subprocess.run([str(bench_pages.BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                       env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bench_pages.seed(env, heavy)
    from portal import create_app

    return create_app({"MAIL_WORKER_THREADS": 0})


def signed_in(app: Any, email: str) -> Any:
    client = app.test_client()
    match = bench_pages.CSRF.search(client.get("/login").get_data(as_text=True))
    assert match, "no CSRF token on /login"
    response = client.post("/login", data={"csrf_token": match.group(1) or match.group(2), "email": email,
                                           "password": bench_pages.PASSWORD})
    assert response.status_code in (302, 303), f"sign-in as {email}: {response.status_code}"
    return client


def requester(app: Any, who: str) -> Any:
    if who == "hello":
        from flask import Flask

        hello = Flask("hello")
        hello.add_url_rule("/", "hello", lambda: "Hello, World!")
        return hello.test_client().get
    if who == "anon":
        return lambda path: app.test_client().get(path)  # no cookies: a new visitor every time
    if who == "returning":
        client = app.test_client()
        client.get("/")  # the first visit sets the session cookie with the CSRF secret
        return client.get
    return signed_in(app, f"{who}@example.com").get


def run(get: Any, path: str, count: int) -> None:
    for _ in range(count):
        response = get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")
        response.close()


def timed(get: Any, path: str, count: int) -> float:
    run(get, path, WARM_UP)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        run(get, path, count)
        best = min(best, (time.process_time() - start) / count)
    return best * 1000


def instructions(names: list[str], count: int, database_url: str, work: str) -> dict[str, float]:
    """Instructions per request: one callgrind process on the seeded database, its counting
    switched on (``callgrind_control``) only around each page's ``count`` requests, so start-up,
    imports and the warm-up are neither counted nor slowed by the instrumentation."""
    folder = tempfile.mkdtemp(prefix="portal-callgrind-")
    child = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={folder}/out.%p",
         sys.executable, __file__, *names, "--count", str(count), "--seeded", database_url, "--work", work],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"})  # the same dict layouts every run
    assert child.stdin is not None and child.stdout is not None

    def control(*options: str) -> None:
        subprocess.run(["callgrind_control", *options, str(child.pid)], check=True, capture_output=True)

    def step(expected: str) -> None:
        line = child.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith(expected):
            raise SystemExit(f"callgrind run: expected {expected}, got {line!r}")

    figures = {}
    for name in names:
        step("READY")
        control("-z")
        control("-i", "on")
        child.stdin.write("\n")
        child.stdin.flush()
        step("DONE")
        control("-i", "off")
        dumps = set(Path(folder).glob("out.*"))
        control("-d")
        deadline = time.monotonic() + 60
        while not (new := set(Path(folder).glob("out.*")) - dumps) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # the dump is written by then
        text = max(new, key=lambda path: path.stat().st_mtime).read_text()
        match = re.search(r"^totals: (\d+)", text, re.MULTILINE)
        if not match:
            raise SystemExit(f"callgrind run: no totals for {name}")
        figures[name] = int(match.group(1)) / count
        child.stdin.write("\n")
        child.stdin.flush()
    child.wait()
    shutil.rmtree(folder, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help=f"pages to measure (default: all): {', '.join(PAGES)}")
    parser.add_argument("--count", type=int, default=300, help="requests per round")
    parser.add_argument("--heavy", type=int, default=1000, help="rows of each history for the heavy account")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database, not SQLite")
    parser.add_argument("--postgres-url", default=bench_pages.DEFAULT_POSTGRES)
    parser.add_argument("--instructions", action="store_true", help="callgrind instructions a request")
    parser.add_argument("--profile", action="store_true", help="cProfile of each page, by cumulative time")
    parser.add_argument("--seeded", help=argparse.SUPPRESS)  # one callgrind leg: this seeded database ...
    parser.add_argument("--work", help=argparse.SUPPRESS)  # ... and instance folder
    parser.add_argument("--seed-only", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_only:
        build(args.seed_only, Path(args.work), args.heavy)
        return 0
    names = args.pages or list(PAGES)
    if unknown := [name for name in names if name not in PAGES]:
        parser.error(f"unknown page {', '.join(unknown)}: choose from {', '.join(PAGES)}")
    if args.seeded:  # under callgrind: warm up, then --count requests between the parent's switches
        app = build(args.seeded, Path(args.work), args.heavy, seeded=True)
        for name in names:
            path, who = PAGES[name]
            get = requester(app, who)
            run(get, path, WARM_UP)
            print("READY", name, flush=True)
            sys.stdin.readline()
            run(get, path, args.count)
            print("DONE", name, flush=True)
            sys.stdin.readline()
        return 0
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="portal-costs-") as work:
        url = stack.enter_context(throwaway_postgres(args.postgres_url)) if args.postgres else f"sqlite:///{work}/p.db"
        if args.instructions:
            # Seeded once, outside valgrind, in a child (this process stays free of the portal).
            subprocess.run([sys.executable, __file__, "--seed-only", url, "--work", work, "--heavy", str(args.heavy)],
                           check=True)
            for name, figure in instructions(names, args.count, url, work).items():
                print(f"{name:16s} {figure / 1e6:8.3f} M instructions/request", flush=True)
            return 0
        app = build(url, Path(work), args.heavy)
        hello_get = requester(app, "hello")
        hello = min(timed(hello_get, "/", args.count) for _ in range(2))  # the first pays for warming up
        for name in names:
            path, who = PAGES[name]
            get = requester(app, who)
            cost = timed(get, path, args.count)
            print(f"{name:16s} {cost:7.3f} ms CPU/request  {cost / hello:5.1f}x hello", flush=True)
            if args.profile:
                profile = cProfile.Profile()
                profile.runcall(run, get, path, args.count)
                pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
