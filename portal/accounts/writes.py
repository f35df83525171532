"""Start write transactions so that concurrent requests on SQLite do not fail.

In WAL mode, a transaction that reads first and writes later fails at once with "database is
locked" (SQLITE_BUSY_SNAPSHOT) if another connection committed in between; busy_timeout does
not help. A login reads, spends a bcrypt check, then writes, so concurrent logins on the default
SQLite deployment (one process, several threads) turned into 500s. Each write phase therefore
ends its read snapshot and takes the write lock up front (BEGIN IMMEDIATE). PostgreSQL (read
committed) needs none of this.
"""

from __future__ import annotations

from portal.db import write_lock
from portal.extensions import db


def begin_write() -> None:
    """Call before the first change of a write phase: pending changes would be committed first."""
    if db.session.get_bind().dialect.name == "sqlite":
        write_lock("accounts")
