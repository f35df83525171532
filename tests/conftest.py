"""Fixtures: real SQLite always, real PostgreSQL + Redis when their test URLs are set, and a
real SMTP server (aiosmtpd on loopback) that collects every message sent."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from portal import create_app
from portal.extensions import db as _db
from portal.mail.worker import deliver_due
from tests.catalogues import compile_stale
from tests.faultsmtp import FaultSMTP
from tests.helpers import Auth, SMTPSink

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    compile_stale()


def pytest_report_header(config: pytest.Config) -> str:
    return f"portal backends: {', '.join(BACKENDS)}; redis: {'yes' if REDIS_URL else 'no (memory://)'}"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own PORTAL_* settings must not leak into the suite.
    for name in list(os.environ):
        if name.startswith("PORTAL_") and not name.startswith("PORTAL_TEST_"):
            monkeypatch.delenv(name)


def _admin_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url(worker_id: str) -> Iterator[str | None]:
    """A PostgreSQL database created for this run (one per xdist worker) and dropped after it."""
    if not PG_URL:
        yield None
        return
    name = f"portal_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_conninfo(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(drivername="postgresql+psycopg", database=name)
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(_admin_conninfo(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPSink]:
    sink = SMTPSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def faulty() -> Iterator[FaultSMTP]:
    """A mail server of our own that misbehaves on demand (tests/faultsmtp.py)."""
    server = FaultSMTP()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: SMTPSink) -> SMTPSink:
    smtp_server.clear()
    return smtp_server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


_pg_schema_ready: set[str] = set()


class DeliveringClient(FlaskClient):
    """The test client, with the mail engine run right after each request, in the test's thread.

    Web processes deliver on a thread of their own; here the same engine runs synchronously so that
    a test reads its messages the moment the response is back. Tests of the threads themselves
    (timing, outages) set MAIL_WORKER_THREADS and TEST_DELIVER_AFTER_REQUEST=False."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        if self.application.config.get("TEST_DELIVER_AFTER_REQUEST", True):
            with contextlib.suppress(DatabaseError):  # a test took the database away: nothing to deliver
                deliver_due(self.application)
        return response


@pytest.fixture
def make_app(
    backend: str, tmp_path: Path, pg_url: str | None, smtp_server: SMTPSink
) -> Iterator[Callable[..., Any]]:
    """Build an app on the test's backend; keyword arguments override settings."""
    apps: list[Any] = []
    prefix = f"t{uuid.uuid4().hex[:12]}"

    def factory(create_schema: bool = True, **overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": TEST_SECRET,
            "BCRYPT_ROUNDS": 4,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_server.port,
            "MAIL_TIMEOUT": 5,
            "MAIL_WORKER_THREADS": 0,
            "MAIL_RETRY_BASE": 0.05,
            "MAIL_RETRY_MAX_DELAY": 1,
            "RATELIMIT_KEY_PREFIX": prefix,
        }
        if backend == "postgresql":
            settings["DATABASE_URL"] = pg_url
            if REDIS_URL:
                settings["RATELIMIT_STORAGE_URI"] = REDIS_URL
        else:
            settings["DATABASE_URL"] = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        settings.update(overrides)
        app = create_app(settings)
        app.test_client_class = DeliveringClient
        apps.append(app)
        if create_schema:
            with app.app_context():
                url = str(app.config["SQLALCHEMY_DATABASE_URI"])
                if url not in _pg_schema_ready:
                    _db.create_all()
                    if backend == "postgresql":
                        _pg_schema_ready.add(url)
        return app

    yield factory

    for app in apps:
        with app.app_context():
            _db.session.remove()
            if backend == "postgresql" and app.config["SQLALCHEMY_DATABASE_URI"] == pg_url:
                tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
                if tables:
                    with _db.engine.begin() as conn:
                        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            _db.engine.dispose()
    if REDIS_URL and backend == "postgresql":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Any) -> Iterator[Any]:
    with app.app_context():
        yield _db
        _db.session.remove()


@pytest.fixture
def auth(client: Any, smtp: SMTPSink) -> Auth:
    return Auth(client, smtp)
