"""A person's history a page at a time: newest first, keyset-paginated, never a full scan.

Every list on the account pages (sessions, sign-ins, cookie choices, newsletter changes) shows a
fixed number of rows, so a page costs the same with 10 rows behind it or 10 000. "Show more"
pages continue *after* the last row shown — a cursor of its (time, id) — instead of skipping
rows with OFFSET, so page 500 is as cheap as page 1. Each query is served by an index on
(user_id, time, id) (see tests/test_query_plans.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import FromClause, Select, bindparam, select, tuple_

from portal.accounts.models import LoginAttempt, LoginSession, User
from portal.consent.models import ConsentRecord
from portal.db import read
from portal.newsletter.models import SubscriptionEvent

T = TypeVar("T")

SUMMARY_SIZE = 10  # rows on a settings page
PAGE_SIZE = 25  # rows on a "show more" page
MAX_CURSOR_LENGTH = 40
MAX_ID = 2**31 - 1  # an INTEGER key on PostgreSQL; a larger one would be a database error
# Microseconds since 1970 (17 digits reach the year 5138, inside datetime's range) and a row id.
_CURSOR = re.compile(r"^(\d{1,17})-(\d{1,10})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CursorError(ValueError):
    """A "show more" link that we did not make (edited, truncated): the page answers 400."""


@dataclass(frozen=True)
class Cursor:
    at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.at - _EPOCH) // timedelta(microseconds=1)}-{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """The cursor in a query string; None for the first page; CursorError for anything else."""
        if raw is None or raw == "":
            return None
        match = _CURSOR.match(raw) if len(raw) <= MAX_CURSOR_LENGTH and raw.isascii() else None
        if match is None:
            raise CursorError(raw)
        row_id = int(match.group(2))
        if row_id > MAX_ID:
            raise CursorError(raw)
        return cls(_EPOCH + timedelta(microseconds=int(match.group(1))), row_id)


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    more: Cursor | None  # where the next page starts; None on the last page

    @property
    def next_cursor(self) -> str | None:
        return self.more.encode() if self.more is not None else None

    # A page reads like the list of its rows in templates: {% for row in page %}, page|length.
    def __iter__(self) -> Iterator[T]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Pages:
    """A list's two statements (see ``_pages``) and the column its cursor continues after."""

    first: Select[Any]
    after: Select[Any]
    at: str


def _pages(table: FromClause, at: str, *where: Any) -> Pages:
    """The first page's statement and the "after a cursor" one, built once per list: building a
    statement costs more than running its cached SQL. Both take ``user_id`` and ``size``; the
    second also ``after_at`` and ``after_id``; ``where`` adds the list's own conditions.

    Plain rows of the table's columns, not ORM objects: a page only shows them, and loading ten
    objects into the session costs twice the query."""
    column, id_ = table.c[at], table.c.id
    statement = select(table).where(table.c.user_id == bindparam("user_id"), *where)
    # Bound with the columns' own types: a bare aware datetime would compare as "timestamp with
    # time zone" on PostgreSQL, a cast of the column that no index serves.
    after = tuple_(column, id_) < tuple_(bindparam("after_at", type_=column.type),
                                         bindparam("after_id", type_=id_.type))
    ordered = (column.desc(), id_.desc())
    size: Any = bindparam("size")
    return Pages(statement.order_by(*ordered).limit(size), statement.where(after).order_by(*ordered).limit(size), at)


def newest(pages: Pages, params: dict[str, Any], after: Cursor | None, size: int) -> Page[Any]:
    """Up to ``size`` rows of ``pages`` (see ``_pages``), newest first by (``pages.at``, id), after ``after``.

    One row more than asked for tells whether there is a next page, without counting.
    """
    params = {**params, "size": size + 1}
    if after is not None:
        params.update(after_at=after.at, after_id=after.id)
    rows = list(read(pages.first if after is None else pages.after, params))
    if len(rows) <= size:
        return Page(rows, None)
    last = rows[size - 1]
    return Page(rows[:size], Cursor(getattr(last, pages.at), last.id))


_SESSION_COLUMNS = LoginSession.__table__.c
_SESSIONS = _pages(LoginSession.__table__, "last_seen_at",
                   _SESSION_COLUMNS.last_seen_at > bindparam("idle_cut", type_=_SESSION_COLUMNS.last_seen_at.type),
                   _SESSION_COLUMNS.created_at > bindparam("age_cut", type_=_SESSION_COLUMNS.created_at.type))
_SIGN_INS = _pages(LoginAttempt.__table__, "at")
_CHOICES = _pages(ConsentRecord.__table__, "decided_at")
_CHANGES = _pages(SubscriptionEvent.__table__, "at")


def live_sessions(user: User, now: datetime, idle: timedelta, max_age: timedelta, after: Cursor | None = None,
                  size: int = SUMMARY_SIZE) -> Page[Any]:
    """The sessions that still count, most recently used first (expired ones are filtered in SQL).
    Each list gives rows with the table's columns as attributes (``row.last_seen_at``)."""
    params = {"user_id": user.id, "idle_cut": now - idle, "age_cut": now - max_age}
    return newest(_SESSIONS, params, after, size)


def sign_ins(user: User, after: Cursor | None = None, size: int = SUMMARY_SIZE) -> Page[Any]:
    """Sign-in attempts on the account, newest first."""
    return newest(_SIGN_INS, {"user_id": user.id}, after, size)


def cookie_choices(user: User, after: Cursor | None = None, size: int = SUMMARY_SIZE) -> Page[Any]:
    """The consent decisions made while signed in, newest first."""
    return newest(_CHOICES, {"user_id": user.id}, after, size)


def newsletter_changes(user: User, after: Cursor | None = None, size: int = SUMMARY_SIZE) -> Page[Any]:
    """Every subscribe and unsubscribe, newest first."""
    return newest(_CHANGES, {"user_id": user.id}, after, size)
