"""``flask ops backup PATH`` and ``flask ops restore PATH``: the operator's copy of the database.

- SQLite: sqlite3's online backup API (what ``.backup`` does in the sqlite3 shell): a consistent
  copy page by page while the portal keeps serving; the copy is itself a SQLite file.
- PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot, taken while the portal runs);
  restored with ``pg_restore``. The client tools must be at least the server's major version.

A restore only goes into an EMPTY database (a fresh ``createdb``, or a SQLite path that does not
exist yet): it never merges into, or overwrites, a live one. Backups hold personal data: they are
written with mode 600, and docs/production.md says how long to keep them. No password is ever
put on a command line or printed: libpq reads it from PGPASSWORD in the child's environment.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import click
from flask import Blueprint
from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url

from portal.appctx import current_app_object
from portal.extensions import db

cli = Blueprint("ops", __name__, cli_group="ops")


def _url() -> URL:
    return make_url(str(current_app_object().config["SQLALCHEMY_DATABASE_URI"]))


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise click.ClickException("The SQLite database is in memory: there is nothing to back up.")
    return Path(url.database)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment that carries it."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    conninfo = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return conninfo, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise click.ClickException(f"{name} is not installed (Debian: apt-get install postgresql-client).")
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise click.ClickException(f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()}")


def _private(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


@cli.cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Write a consistent copy of the database to PATH (which must not exist), while it serves."""
    url = _url()
    if path.exists():
        raise click.ClickException(f"{path} exists already: choose a new file name.")
    db.session.remove()
    _private(path)
    try:
        if url.get_backend_name() == "sqlite":
            source = sqlite3.connect(f"file:{_sqlite_path(url)}?mode=ro", uri=True)
            target = sqlite3.connect(path)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            kind = "SQLite online backup"
        elif url.get_backend_name() == "postgresql":
            conninfo, env = _libpq(url)
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(path),
                  "--dbname", conninfo], env)
            kind = "pg_dump custom format"
        else:
            raise click.ClickException(f"No backup method for {url.get_backend_name()}.")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    click.echo(f"Backed up {_shown(url)} to {path} ({kind}, {path.stat().st_size} bytes).")


def _sqlite_tables(path: Path) -> int:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    finally:
        connection.close()


def _empty(engine: Any) -> bool:
    return not inspect(engine).get_table_names()


@cli.cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(path: Path) -> None:
    """Restore a backup from PATH into the configured database, which must be empty (new)."""
    url = _url()
    if url.get_backend_name() == "sqlite":
        target = _sqlite_path(url)
        if target.exists() and _sqlite_tables(target):
            raise click.ClickException(f"{target} exists: restore into a new file, then point DATABASE_URL at it.")
        db.session.remove()
        db.engine.dispose()
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        destination = sqlite3.connect(target)
        try:
            if source.execute("PRAGMA integrity_check").fetchone() != ("ok",):
                raise click.ClickException(f"{path} is not an intact SQLite database.")
            source.backup(destination)
        finally:
            destination.close()
            source.close()
        os.chmod(target, 0o600)
    elif url.get_backend_name() == "postgresql":
        if not _empty(db.engine):
            raise click.ClickException(f"{_shown(url)} is not empty: restore into a new database (createdb).")
        db.session.remove()
        db.engine.dispose()
        conninfo, env = _libpq(url)
        _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              "--dbname", conninfo, str(path)], env)
    else:
        raise click.ClickException(f"No restore method for {url.get_backend_name()}.")
    click.echo(f"Restored {path} into {_shown(url)}. Next: `flask db upgrade` (a no-op when the code matches).")


def init_app(app: Any) -> None:
    app.register_blueprint(cli)
