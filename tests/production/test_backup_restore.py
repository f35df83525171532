"""`flask ops backup` while the portal serves, `flask ops restore` into a fresh database, and the
portal served from the restored copy: an account made before the backup signs in, one made after
it does not exist. SQLite always; PostgreSQL (pg_dump/pg_restore) where PORTAL_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from shutil import which

import pytest

from tests.helpers import PASSWORD
from tests.production.client import Client
from tests.production.units import (
    VENV,
    Process,
    base_environ,
    free_port_on,
    need,
    spawn,
    unit_command,
    wait_until,
    write_env_file,
)

pytestmark = [pytest.mark.production, pytest.mark.slow]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two database URLs: the live one and the empty one to restore into."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.sqlite3'}", f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    pg = os.environ.get("PORTAL_TEST_DATABASE_URL")
    need(pg, "PORTAL_TEST_DATABASE_URL is not set: no PostgreSQL to back up")
    need(which("pg_dump") and which("pg_restore"), "pg_dump/pg_restore are not installed (postgresql-client)")
    import psycopg
    from sqlalchemy.engine import make_url

    assert pg
    admin = make_url(pg).set(drivername="postgresql").render_as_string(hide_password=False)
    names = [f"portal_backup_{uuid.uuid4().hex[:8]}_{part}" for part in ("live", "restored")]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(make_url(pg).set(drivername="postgresql+psycopg", database=n).render_as_string(
            hide_password=False) for n in names)  # type: ignore[misc]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Portal:
    """One development-mode portal on a free loopback port, started from deploy/systemd/portal-web.service."""

    def __init__(self, folder: Path, database_url: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port_on("127.0.0.1")
        self.env_file = folder / "portal.env"
        write_env_file(self.env_file, {
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_INSTANCE_PATH": str(folder / "instance"),
            # The same secret on both sides: the password pepper derives from it (docs/production.md).
            "PORTAL_SECRET_KEY": "backup-restore-" + "s" * 40,
            "PORTAL_BCRYPT_ROUNDS": 4,
            "PORTAL_MAIL_WORKER_THREADS": 0,
            "PORTAL_CONTROL_SOCKET": "none",
        })
        values = {"ROOT": str(Path(__file__).resolve().parents[2]), "VENV": str(VENV),
                  "ENV_FILE": str(self.env_file), "USER": "portal", "BIND": f"127.0.0.1:{self.port}"}
        self.command = unit_command("portal-web.service", values, folder / "run")
        self.web: Process | None = None

    def flask(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = base_environ()
        env.update(self.command.env)
        result = subprocess.run([str(VENV / "bin" / "flask"), "--app", "wsgi", *args], cwd=self.command.cwd,
                                env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def start(self) -> None:
        self.web = spawn("portal", self.command, self.folder / "gunicorn.log")
        wait_until(lambda: Client(self.port, None, host="127.0.0.1").get("/healthz").status == 200, 60,
                   "the portal to answer")

    def stop(self) -> None:
        if self.web:
            self.web.stop()

    def login(self, email: str) -> int:
        client = Client(self.port, None, host="127.0.0.1")
        response = client.post_form("/login", {"email": email, "password": PASSWORD})
        if response.status == 302:
            account = client.get("/account")
            assert account.status == 200 and email in account.body
        return response.status


def test_backup_while_serving_then_restore_into_a_fresh_database_serves_it(store, tmp_path):
    live_url, restored_url = store
    live = Portal(tmp_path / "live", live_url)
    live.flask("db", "upgrade")
    live.flask("users", "create-admin", "before@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    backup = tmp_path / "portal.backup"
    live.start()
    try:
        assert live.login("before@example.com") == 302
        out = live.flask("ops", "backup", str(backup)).stdout  # online: the portal keeps serving
        assert live.login("before@example.com") == 302
        live.flask("users", "create-admin", "after@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    finally:
        live.stop()
    assert "Backed up" in out and "backup-restore-" not in out
    assert (backup.stat().st_mode & 0o777) == 0o600  # it holds personal data
    assert live.flask("ops", "backup", str(backup), check=False).returncode != 0  # never overwrites

    restored = Portal(tmp_path / "restored", restored_url)
    restored.flask("ops", "restore", str(backup))
    again = restored.flask("ops", "restore", str(backup), check=False)
    assert again.returncode != 0 and ("not empty" in again.stderr or "exists" in again.stderr), again.stderr
    restored.flask("db", "upgrade")  # nothing to do: the copy carries its migration version
    restored.start()
    try:
        assert restored.login("before@example.com") == 302
        assert restored.login("after@example.com") == 400
    finally:
        restored.stop()
