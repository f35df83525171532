"""Database plumbing shared by every blueprint: UTC timestamps, SQLite pragmas, write locks."""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import DateTime, Result, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator

from portal.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use portal.db.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit transactions skip SELECTs, which
    # breaks isolation and makes BEGIN IMMEDIATE impossible).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        return
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def write_lock(name: str) -> None:
    """Serialise writers on ``name`` until the current transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the database write lock
    (BEGIN IMMEDIATE); pending work of the session is committed first because SQLite cannot
    upgrade a read snapshot into a write lock without risking SQLITE_BUSY.
    """
    session = db.session
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(name.encode())})
    elif dialect == "sqlite":
        session.commit()
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def begin_write() -> None:
    """Start a write phase so that concurrent writers queue instead of failing.

    SQLite in WAL mode: a transaction that reads first and writes later fails at once with
    "database is locked" (SQLITE_BUSY_SNAPSHOT) if another connection committed in between, and
    busy_timeout does not help. So every read-then-write phase ends its read snapshot (pending
    work is committed) and takes the write lock up front. Call it after slow work such as bcrypt,
    right before the reads whose answer decides the writes. PostgreSQL (read committed) needs
    nothing here; code that must serialise there uses row locks or ``write_lock``.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        write_lock("portal")


@contextmanager
def write_transaction(lock: str | None = None) -> Iterator[Any]:
    """One write phase: the lock first (``begin_write``, or the advisory lock ``lock`` with
    ``write_lock``), then the caller's reads and writes, then commit — or roll back on any error.

    Where the lock matters it is taken after slow work such as bcrypt (see ``begin_write``)."""
    if lock is None:
        begin_write()
    else:
        write_lock(lock)
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def read(statement: Any, params: dict[str, Any]) -> Result[Any]:
    """Plain rows on the request's own connection and transaction, past the ORM Session's
    execute layer (its events, bind look-up and ORM result set-up cost more than a small indexed
    query itself). Pending changes are flushed first, as ``Session.execute`` would autoflush, so
    a page rendered after a change in the same request still shows it."""
    session = db.session
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params)


def affected(result: Any) -> int:
    """Rows an UPDATE or DELETE touched. ``Session.execute`` is typed as returning a plain
    ``Result``; for those statements it is a ``CursorResult``, which has the count."""
    return int(getattr(result, "rowcount", 0) or 0)


def database_answers() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return True
    except Exception:
        db.session.rollback()
        return False


def end_session(error: BaseException | None = None) -> None:
    """The request's session ends with a ROLLBACK; a connection the server cut meanwhile (a
    PostgreSQL restart) fails it after the response was made. Flask-SQLAlchemy's own teardown
    would raise then, and gunicorn answer 500 with no page: the connection is dropped instead."""
    try:
        db.session.remove()
    except DBAPIError as failed:
        logging.getLogger("portal.db").warning(
            "Database connection lost while ending a session (%s)", type(failed.orig).__name__
        )
        db.session().invalidate()  # discards the connection without sending anything
        db.session.remove()


def init_app(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        from pathlib import Path

        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    # Registered after Flask-SQLAlchemy's: teardowns run last-registered first, so this one ends
    # the session and Flask-SQLAlchemy's finds nothing left to close.
    app.teardown_appcontext(end_session)
