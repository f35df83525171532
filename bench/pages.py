"""Page benchmark (not a test): the portal's pages against a bare Flask "hello" and two peers.

    .venv/bin/python bench/pages.py                 # about 15 minutes on 2 cores
    .venv/bin/python bench/pages.py --quick         # a smoke run: about 3 minutes
    .venv/bin/python bench/pages.py --only sqlite --rounds 3 --duration 3 --mixed 0

Every server runs under the same gunicorn settings (``--workers``/``--threads``, gthread, bind on
127.0.0.1, no max_requests, one config file written for the run and passed with ``-c`` to all):

* ``hello``: a bare Flask "hello" (bench/peers/hello.py), in the portal's own virtualenv;
* ``sqlite``, ``postgres``: the portal on a throwaway SQLite file and on a throwaway PostgreSQL
  database (created on ``--postgres-url``'s server and dropped afterwards), schema by the
  migrations (``flask db upgrade``), with the consent banner on (two optional services);
* ``fst``: a minimal Flask-Security-Too 5.x app (bench/peers/fst_app.py);
* ``allauth``: a minimal django-allauth project (bench/peers/allauth_site/).

The peers run in throwaway virtualenvs this script makes under ``--cache-dir`` (pip from PyPI,
gunicorn pinned to the portal's version); ``--refresh-peers`` rebuilds them.

Each page is driven by ``wrk -t2 -c16`` for ``--duration`` seconds, in ``--rounds`` rounds whose
order alternates (A B C, then C B A, ...), so a load swing on a shared machine hits every server
alike. Per run: requests/s, p50 latency and the gunicorn processes' CPU time per request (utime +
stime of the master and its workers, from /proc/PID/stat). Printed per page: the median over the
rounds with the spread (min-max), and the ratios to hello (and to the peers' login pages) computed
per round, then summarised the same way.

Signed-in pages use cookies got by signing in through POST /login first. Two accounts: one with
10 rows of history (sessions, sign-ins, consent records, newsletter events), one with
``--heavy`` rows of each (10 000), inserted directly. Then ``--mixed`` requests (50 000) of every
page in turn, and the worker's RSS (/proc/PID/status VmRSS) before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import http.cookiejar
import importlib.metadata
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.throwaway import throwaway_postgres  # noqa: E402

PEERS = ROOT / "bench" / "peers"
PYTHON = Path(sys.executable)
BIN = PYTHON.parent
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct horse battery staple 42"  # noqa: S105 - the benchmark's throw-away accounts
SECRET = "bench-secret-key-that-is-long-enough-0123456789abcdef"  # noqa: S105
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
TICK = os.sysconf("SC_CLK_TCK")

GUNICORN_CONF = """\
import os
bind = os.environ["BENCH_BIND"]
workers = {workers}
threads = {threads}
worker_class = "gthread"
keepalive = 5
timeout = 60
max_requests = 0
preload_app = False
accesslog = None
errorlog = "-"
loglevel = "warning"
control_socket_disable = True
"""

PORTAL_PAGES = {
    # label: (path, who) — who is "anon" (a first visit: no cookie), "returning" (the session cookie
    # of an earlier visit, holding its CSRF secret), "light" (10 rows) or "heavy" (--heavy rows)
    "home (banner)": ("/", "anon"),
    "home, returning visitor": ("/", "returning"),
    "GET /login": ("/login", "anon"),
    "/account": ("/account", "light"),
    "/account/security": ("/account/security", "light"),
    "/account/sessions": ("/account/sessions", "light"),
    "/account/email": ("/account/email", "light"),
    "/account/data": ("/account/data", "light"),
    "/account, heavy": ("/account", "heavy"),
    "/account/security, heavy": ("/account/security", "heavy"),
    "/account/sessions, heavy": ("/account/sessions", "heavy"),
    "/account/data, heavy": ("/account/data", "heavy"),
}
PEER_PAGES = {"fst": {"GET /login": "/login"}, "allauth": {"GET /login": "/accounts/login/"}}


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    cookies: dict[str, str] = field(default_factory=dict)  # who -> Cookie header
    pages: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (path, who)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Run:
    rps: float
    p50_ms: float
    cpu_ms: float  # server CPU per request
    requests: int


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_gunicorn(name: str, gunicorn: Path, app: str, cwd: Path, conf: Path, env: dict[str, str],
                   log: Path) -> Server:
    port = free_port()
    environment = {**os.environ, **env, "BENCH_BIND": f"127.0.0.1:{port}"}
    process = subprocess.Popen([str(gunicorn), "-c", str(conf), app], cwd=cwd, env=environment,
                               stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name}: gunicorn exited ({process.returncode}); see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit(f"{name}: gunicorn did not answer on port {port}; see {log}")
    return Server(name, port, process)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


# --- peers in throwaway virtualenvs ------------------------------------------------------------


def peer_venv(cache: Path, name: str, requirements: list[str], refresh: bool) -> Path:
    """A virtualenv with exactly ``requirements`` (re-made when they change or on --refresh-peers)."""
    folder = cache / "venvs" / name
    marker = folder / "bench-requirements.txt"
    wanted = "\n".join(requirements)
    if refresh or not marker.exists() or marker.read_text() != wanted:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"  making the {name} virtualenv in {folder} (pip from PyPI) ...", flush=True)
        subprocess.run([str(PYTHON), "-m", "venv", str(folder)], check=True)
        pip = subprocess.run([str(folder / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                              *requirements], capture_output=True, text=True)
        if pip.returncode:
            raise SystemExit(f"pip install {' '.join(requirements)} failed:\n{pip.stdout}{pip.stderr}")
        marker.write_text(wanted)
    return folder


def start_fst(cache: Path, conf: Path, work: Path, refresh: bool, gunicorn_pin: str) -> Server:
    venv = peer_venv(cache, "fst", ["Flask-Security-Too>=5,<6", "Flask-SQLAlchemy", "bcrypt", gunicorn_pin], refresh)
    env = {"BENCH_PEER_DB": str(work / "fst.sqlite3"), "BENCH_PEER_EMAIL": "light@example.com",
           "BENCH_PEER_PASSWORD": PASSWORD}
    server = start_gunicorn("fst", venv / "bin" / "gunicorn", "fst_app:app", PEERS, conf, env, work / "fst.log")
    server.pages = {label: (path, "anon") for label, path in PEER_PAGES["fst"].items()}
    # Its one signed-in page (a line of text under auth_required): what signing a request in costs
    # Flask-Security-Too, next to the portal's full pages. Flask's session cookie carries the sign-in.
    server.cookies = {"light": sign_in(server.base, "light@example.com", login_cookie="session")}
    server.pages["signed-in /account"] = ("/account", "light")
    check_page(server, "/account", "light", "signed-in /account", signed_in_mark="light@example.com")
    return server


def start_allauth(cache: Path, conf: Path, work: Path, refresh: bool, gunicorn_pin: str) -> Server:
    venv = peer_venv(cache, "allauth", ["django-allauth", "Django>=5,<7", gunicorn_pin], refresh)
    env = {"BENCH_PEER_DB": str(work / "allauth.sqlite3"), "DJANGO_SETTINGS_MODULE": "allauth_site.settings"}
    subprocess.run([str(venv / "bin" / "python"), "-m", "django", "migrate", "-v", "0"], cwd=PEERS,
                   env={**os.environ, **env}, check=True)
    server = start_gunicorn("allauth", venv / "bin" / "gunicorn", "allauth_site.wsgi:application", PEERS, conf, env,
                            work / "allauth.log")
    server.pages = {label: (path, "anon") for label, path in PEER_PAGES["allauth"].items()}
    return server


# --- the portal --------------------------------------------------------------------------------


def portal_env(database_url: str, instance: Path) -> dict[str, str]:
    return {
        "PORTAL_INSTANCE_PATH": str(instance),
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_LOG_LEVEL": "WARNING",
        # Two optional services, so anonymous pages carry the consent banner.
        "PORTAL_GA_MEASUREMENT_ID": "G-BENCH12345",
        "PORTAL_SMARTCHAT_KEY": "bench",
        "PORTAL_SMARTCHAT_SCRIPT_URL": "https://chat.example/loader.js",
        "PORTAL_BCRYPT_ROUNDS": "12",
    }


def seed(env: dict[str, str], heavy: int) -> None:
    """Two confirmed accounts; ``light`` with 10 rows of each history, ``heavy`` with ``heavy``."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import insert

    from portal import create_app
    from portal.accounts.models import LoginAttempt, LoginSession, User
    from portal.addresses import email_key
    from portal.consent.models import ConsentRecord, ConsentSnapshot
    from portal.db import utcnow
    from portal.extensions import db
    from portal.newsletter.models import Subscription, SubscriptionEvent
    from portal.security.passwords import hash_password

    app = create_app({"MAIL_WORKER_THREADS": 0})
    with app.app_context():
        now = utcnow()
        snapshot = ConsentSnapshot(digest=secrets.token_hex(32), revision="0" * 16, banner_text="bench",
                                   registry_json="{}", policy_name="bench", policy_text="bench")
        db.session.add(snapshot)
        for email, rows in (("light@example.com", 9), ("heavy@example.com", heavy)):
            user = User(email=email, email_key=email_key(email), password_hash=hash_password(PASSWORD),
                        confirmed_at=now, created_at=now - timedelta(days=400))
            db.session.add(user)
            db.session.flush()
            db.session.add(Subscription(user_id=user.id, active=True, changed_at=now))
            for first in range(0, rows, 5000):
                span = range(first, min(rows, first + 5000))
                at = [now - timedelta(seconds=30 * i + 60) for i in span]
                db.session.execute(insert(LoginSession), [
                    {"token_hash": hashlib.sha256(secrets.token_bytes(16)).hexdigest(), "user_id": user.id,
                     "created_at": t, "last_seen_at": t, "ip": f"192.0.2.{i % 250 + 1}",
                     "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
                    for i, t in zip(span, at, strict=True)])
                db.session.execute(insert(LoginAttempt), [
                    {"at": t, "ip": f"192.0.2.{i % 250 + 1}", "user_id": user.id, "email_key": "0" * 64,
                     "success": i % 3 != 0, "outcome": "success" if i % 3 else "failure"}
                    for i, t in zip(span, at, strict=True)])
                db.session.execute(insert(ConsentRecord), [
                    {"consent_id": secrets.token_hex(16), "decided_at": t, "expires_at": t + timedelta(days=180),
                     "action": "accept_all", "granted": "analytics,chat", "refused": "", "revision": "0" * 16,
                     "snapshot_id": snapshot.id, "via": "form", "user_id": user.id}
                    for t in at])
                db.session.execute(insert(SubscriptionEvent), [
                    {"user_id": user.id, "at": t, "subscribed": i % 2 == 0, "source": "preferences", "note": ""}
                    for i, t in zip(span, at, strict=True)])
        db.session.commit()
        db.engine.dispose()


def first_visit(base: str) -> str:
    """The Cookie header a browser sends after one anonymous visit (the CSRF session)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/", timeout=30).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    assert "session=" in cookie, "no session cookie after a first visit"
    return cookie


def sign_in(base: str, email: str, login_cookie: str = "portal_sid") -> str:
    """Sign in through GET + POST /login like a browser; the Cookie header of the signed-in browser."""
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(f"{base}/login", timeout=30).read().decode()
    match = CSRF.search(page)
    assert match, "no CSRF token on /login"
    body = urllib.parse.urlencode({"csrf_token": match.group(1) or match.group(2), "email": email,
                                   "password": PASSWORD}).encode()
    try:
        opener.open(f"{base}/login", data=body, timeout=60)
    except urllib.error.HTTPError as response:
        if response.code not in (302, 303):
            raise SystemExit(f"sign-in as {email} failed: {response.code}") from None
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    assert f"{login_cookie}=" in cookie, f"no login cookie after POST /login ({login_cookie})"
    return cookie


def start_portal(name: str, database_url: str, conf: Path, work: Path, heavy: int) -> Server:
    instance = work / f"{name}-instance"
    instance.mkdir()
    env = portal_env(database_url, instance)
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Seeding imports the app: do it in a child so this process stays free of the portal's modules.
    subprocess.run([str(PYTHON), __file__, "--seed", str(heavy)], cwd=ROOT, env={**os.environ, **env}, check=True)
    server = start_gunicorn(name, BIN / "gunicorn", "wsgi:app", ROOT, conf, env, work / f"{name}.log")
    server.cookies = {"anon": "", "light": sign_in(server.base, "light@example.com"),
                      "heavy": sign_in(server.base, "heavy@example.com"), "returning": first_visit(server.base)}
    server.pages = dict(PORTAL_PAGES)
    for label, (path, who) in server.pages.items():
        check_page(server, path, who, label)
    return server


def check_page(server: Server, path: str, who: str, label: str, signed_in_mark: str = 'action="/logout"') -> None:
    request = urllib.request.Request(server.base + path,  # noqa: S310 - http on loopback only
                                     headers={"Cookie": server.cookies.get(who, "")})
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback only
        body = response.read().decode()
        if response.status != 200 or response.url != server.base + path:
            raise SystemExit(f"{server.name} {label}: {response.status} at {response.url}")
    if who not in ("anon", "returning") and signed_in_mark not in body:
        raise SystemExit(f"{server.name} {label}: not signed in")
    if label.startswith("home") and "consent-banner" not in body:
        raise SystemExit(f"{server.name} {label}: no consent banner")


# --- wrk ---------------------------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(server: Server, path: str, cookie: str, duration: int, script: Path | None = None) -> Run:
    command = ["wrk", "-t2", "-c16", f"-d{duration}s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if script is not None:
        command += ["-s", str(script)]
    pids = [server.process.pid, *children(server.process.pid)]
    before = cpu_seconds(pids)
    output = subprocess.run([*command, server.base + path], capture_output=True, text=True, check=True).stdout
    used = cpu_seconds(pids) - before
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        raise SystemExit(f"{server.name} {path}: {bad.group(1)} responses were not 2xx/3xx")
    errors = re.search(r"Socket errors: (.*)", output)
    if errors and "timeout 0" not in errors.group(1):
        print(f"    ({server.name} {path}: socket errors {errors.group(1)})")
    return Run(rps, float(p50.group(1)) * UNITS[p50.group(2)] if p50 else 0.0, used * 1000 / max(requests, 1),
               requests)


def mixed_script(server: Server, folder: Path) -> Path:
    """A wrk script that cycles through every page of ``server``, each with its cookie."""
    lines = ["local reqs = {}"]
    for i, (path, who) in enumerate(server.pages.values(), 1):
        cookie = server.cookies.get(who, "").replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'reqs[{i}] = wrk.format("GET", "{path}", {{["Cookie"] = "{cookie}"}})')
    lines += ["local n = 0", "request = function()", "  n = n + 1", "  return reqs[(n % #reqs) + 1]", "end"]
    script = folder / f"{server.name}-mixed.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def memory(server: Server, total: int, folder: Path) -> tuple[float, float, int]:
    workers = children(server.process.pid)
    script = mixed_script(server, folder)
    wrk(server, "/", "", 2, script)  # warm-up: every page rendered once, every template compiled
    before = max(rss_mb(pid) for pid in workers)
    done = 0
    while done < total:
        done += wrk(server, "/", "", 5, script).requests
    return before, max(rss_mb(pid) for pid in children(server.process.pid)), done


# --- the report --------------------------------------------------------------------------------


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(results: dict[tuple[str, str], list[Run]], servers: list[Server]) -> None:
    hello = results.get(("hello", "hello"), [])
    peers = {s.name: results.get((s.name, "GET /login"), []) for s in servers if s.name in PEER_PAGES}
    print()
    print(f"{'server':9} {'page':27} {'req/s':>18} {'p50 ms':>7} {'CPU ms/req':>18} {'÷ hello (req/s)':>18}"
          f" {'CPU x hello':>16}  vs peers (req/s ratio)")
    for server in servers:
        for label in ["hello"] if server.name == "hello" else server.pages:
            runs = results.get((server.name, label))
            if not runs:
                continue
            rounds = range(min(len(runs), len(hello)))
            to_hello = [runs[i].rps / hello[i].rps * 100 for i in rounds]
            cpu_x = [runs[i].cpu_ms / hello[i].cpu_ms for i in rounds if hello[i].cpu_ms]
            versus = ""
            if label == "GET /login" and server.name not in PEER_PAGES:
                versus = "  ".join(
                    f"{peer} {spread([runs[i].rps / p[i].rps for i in range(min(len(runs), len(p)))], '{:.2f}')}x"
                    for peer, p in peers.items() if p)
            print(f"{server.name:9} {label:27} {spread([r.rps for r in runs]):>18} "
                  f"{statistics.median(r.p50_ms for r in runs):7.2f} "
                  f"{spread([r.cpu_ms for r in runs], '{:.2f}'):>18} "
                  f"{spread(to_hello, '{:.0f}') + ' %' if to_hello else '':>18} "
                  f"{spread(cpu_x, '{:.1f}') + 'x' if cpu_x else '':>16}  {versus}")
    for server in servers:
        light, heavy = results.get((server.name, "/account")), results.get((server.name, "/account, heavy"))
        if light and heavy:
            ratio = [heavy[i].rps / light[i].rps * 100 for i in range(min(len(light), len(heavy)))]
            print(f"{server.name}: /account with the heavy history at {spread(ratio)} % of its speed with 10 rows")


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 1 s, 1 000 heavy rows, "
                        "5 000 mixed requests")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per page and round")
    parser.add_argument("--heavy", type=int, default=10_000, help="rows of each history for the heavy account")
    parser.add_argument("--mixed", type=int, default=50_000, help="mixed requests before the RSS reading (0: none)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--only", default="hello,sqlite,postgres,fst,allauth",
                        help="servers to run, comma-separated (hello always runs)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "portal-bench")
    parser.add_argument("--refresh-peers", action="store_true", help="rebuild the peers' virtualenvs")
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed is not None:
        seed(dict(os.environ), args.seed)
        return 0
    if args.quick:
        args.rounds, args.duration, args.heavy, args.mixed = 2, 1, 1000, 5000
    if shutil.which("wrk") is None:
        print("wrk is missing: install it with `apt-get install -y wrk` (Debian/Ubuntu), `brew install wrk` "
              "(macOS) or build it from https://github.com/wg/wrk", file=sys.stderr)
        return 2
    wanted = {name.strip() for name in args.only.split(",")} | {"hello"}
    gunicorn_pin = f"gunicorn=={importlib.metadata.version('gunicorn')}"
    args.cache_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="portal-pages-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        conf = work / "gunicorn_bench.py"
        conf.write_text(GUNICORN_CONF.format(workers=args.workers, threads=args.threads))
        print(f"gunicorn: {args.workers} worker(s) x {args.threads} threads (gthread), 127.0.0.1; "
              f"wrk -t2 -c16 -d{args.duration}s; {args.rounds} rounds; heavy account {args.heavy} rows each")
        servers: list[Server] = []

        def started(server: Server) -> Server:
            stack.callback(stop, server)
            servers.append(server)
            return server

        hello = started(start_gunicorn("hello", BIN / "gunicorn", "hello:app", PEERS, conf, {}, work / "hello.log"))
        hello.pages = {"hello": ("/", "anon")}
        if "sqlite" in wanted:
            print("  portal on SQLite: migrations, seed, sign-in ...", flush=True)
            started(start_portal("sqlite", f"sqlite:///{work / 'portal.sqlite3'}", conf, work, args.heavy))
        if "postgres" in wanted:
            print("  portal on PostgreSQL (throwaway database): migrations, seed, sign-in ...", flush=True)
            url = stack.enter_context(throwaway_postgres(args.postgres_url))
            started(start_portal("postgres", url, conf, work, args.heavy))
        if "fst" in wanted:
            started(start_fst(args.cache_dir, conf, work, args.refresh_peers, gunicorn_pin))
        if "allauth" in wanted:
            started(start_allauth(args.cache_dir, conf, work, args.refresh_peers, gunicorn_pin))

        results: dict[tuple[str, str], list[Run]] = {}
        jobs = [(s, label, path, who) for s in servers for label, (path, who) in s.pages.items()]
        for server, _label, path, who in jobs:  # warm-up: templates compiled, connections open
            wrk(server, path, server.cookies.get(who, ""), 1)
        for round_number in range(args.rounds):
            order = jobs if round_number % 2 == 0 else list(reversed(jobs))
            print(f"  round {round_number + 1}/{args.rounds} ...", flush=True)
            for server, label, path, who in order:
                run = wrk(server, path, server.cookies.get(who, ""), args.duration)
                results.setdefault((server.name, label), []).append(run)
        report(results, servers)

        if args.mixed:
            print()
            for server in servers:
                if server.name in ("sqlite", "postgres"):
                    before, after, done = memory(server, args.mixed, work)
                    print(f"{server.name}: worker RSS {before:.1f} MB after warm-up, {after:.1f} MB after "
                          f"{done} mixed requests ({len(server.pages)} pages in turn)")
            print(f"hello: worker RSS {max(rss_mb(p) for p in children(hello.process.pid)):.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
