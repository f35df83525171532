"""gunicorn settings for a small host.

The process model follows the rate-limit store: with ``memory://`` counters live in one process,
so one worker process with threads keeps per-IP limits exact; with a shared store (Redis) the
classic (2 x cores) + 1 worker processes. ``PORTAL_BIND``, ``PORTAL_WORKERS`` and
``PORTAL_THREADS`` override the defaults; ``PORTAL_CONTROL_SOCKET`` names gunicorn's control
socket (``none`` for no socket).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re

from portal.config import ConfigError, instance_path_from, resolve_settings

try:
    _settings = resolve_settings(instance_path_from(), {"CHECK_DATABASE_AT_START": False})
except ConfigError as error:
    raise SystemExit(f"portal: configuration error: {error}") from None

_shared_store = not str(_settings["RATELIMIT_STORAGE_URI"]).startswith("memory://")

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")

# A Unix socket path has room for 107 bytes on Linux (sun_path); gunicorn fails to open a longer one.
_MAX_SOCKET_PATH = 100


def _control_socket_for(bind_address: str) -> str:
    """A control socket of this instance's own, named after the address it serves.

    gunicorn (>= 25.1) defaults to one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
    ~/.gunicorn/gunicorn.ctl): a second instance on the host unlinks the first one's socket and
    takes it over, and the first to stop removes the survivor's. Two instances cannot serve the
    same address, so a name from the bind address is unique on the host and easy to find.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = runtime if runtime and os.path.isdir(runtime) else os.path.join(os.path.expanduser("~"), ".gunicorn")
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", bind_address)
    path = os.path.join(folder, f"portal-{name}.ctl")
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        path = os.path.join(folder, f"portal-{hashlib.sha256(bind_address.encode()).hexdigest()[:12]}.ctl")
    return path


_control = os.environ.get("PORTAL_CONTROL_SOCKET", "").strip()
if _control.lower() == "none":
    control_socket_disable = True
else:
    control_socket = _control or _control_socket_for(bind)
    # Even hashed, a very long home folder leaves no room: no socket beats a shared one.
    control_socket_disable = len(os.fsencode(control_socket)) > _MAX_SOCKET_PATH

workers = int(os.environ.get("PORTAL_WORKERS") or ((2 * multiprocessing.cpu_count() + 1) if _shared_store else 1))
threads = int(os.environ.get("PORTAL_THREADS") or (2 if _shared_store else 8))
worker_class = "gthread"
# Tell the app how many processes share its settings, so it can refuse memory:// under several.
os.environ["PORTAL_WORKER_PROCESSES"] = str(workers)


def _limit_malloc_arenas(count: int = 2) -> None:
    """At most ``count`` glibc malloc arenas per process (MALLOC_ARENA_MAX, unless that is set).

    glibc gives each thread that allocates an arena of its own, up to 8 per core; with a gthread
    worker's threads every arena keeps its own free pages, which a worker never gives back (~4 MB
    of RSS in bench/pages.py's mixed run). Python allocates under the GIL, so few arenas cost no
    contention. Set here, in the master before any thread or fork: the workers inherit it (an
    environment variable would be read only by a process that starts afresh)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, count)  # M_ARENA_MAX from <malloc.h>
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to limit
        pass


_limit_malloc_arenas()

preload_app = True  # configuration errors stop the master with one line, before any fork
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
# The same peers the app believes X-Forwarded-For from (TRUSTED_PROXIES): one list, so gunicorn's
# idea of "behind a proxy" (X-Forwarded-Proto) and the app's client IP cannot disagree.
forwarded_allow_ips = ",".join(_settings["TRUSTED_PROXIES"])
accesslog = "-"
errorlog = "-"
# No query strings ("%(U)s" is the path alone), and paths pass through the redaction filter.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    # Connections opened by the preloading master must not be shared with the forked workers.
    from portal.extensions import db
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)


def on_starting(server):  # type: ignore[no-untyped-def]
    from portal.log import install_filter

    install_filter("gunicorn.error", "gunicorn.access")
    # Prometheus multiprocess files of an earlier run would be added to this run's counts.
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    # A dead worker's live gauges go; its counters stay in the sums (portal.metrics).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    from portal.log import install_filter

    install_filter("gunicorn.error", "gunicorn.access")
