"""Server-side login sessions behind the session-ID cookie.

The cookie carries a random id (256 bits); the database keeps only its SHA-256. Every request
looks the row up and checks both deadlines on the server, whatever the cookie claims.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, current_app, g, request, session
from flask_login import logout_user
from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.orm import joinedload

from portal import cookies
from portal.accounts import history
from portal.accounts.models import LoginSession, User
from portal.accounts.requestinfo import Client
from portal.db import affected, utcnow, write_transaction
from portal.extensions import db, login_manager
from portal.translate import lazy_gettext as _l

MAX_COOKIE_LENGTH = 128

# Built once: every signed-in request runs it, and building a statement costs more than its
# cached SQL. The row and its user come in one query: every signed-in request needs both.
_BY_TOKEN = select(LoginSession).options(joinedload(LoginSession.user)).where(
    LoginSession.token_hash == bindparam("token_hash")
)
_BY_ID = select(LoginSession).options(joinedload(LoginSession.user)).where(
    LoginSession.id == bindparam("session_id")
)


def cookie_name() -> str:
    return cookies.LOGIN.name(bool(current_app.config["PRODUCTION"]))


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def idle_timeout() -> timedelta:
    return timedelta(seconds=current_app.config["SESSION_IDLE_TIMEOUT"])


def max_age() -> timedelta:
    return timedelta(seconds=current_app.config["SESSION_MAX_AGE"])


def is_expired(record: LoginSession, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return record.last_seen_at + idle_timeout() <= now or record.created_at + max_age() <= now


def start_session(user: User, client: Client) -> str:
    """Create a fresh session for ``user`` from ``client``; returns the raw id for the cookie."""
    raw = secrets.token_urlsafe(32)
    with write_transaction():
        now = utcnow()
        record = LoginSession(
            token_hash=_hash(raw),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            reauthenticated_at=now,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        db.session.add(record)
    return raw


def issue_cookie(raw: str) -> None:
    """Send the new session's cookie with this response (written by the response hook below).

    No fixation: a new id at every login, and the signed Flask cookie (CSRF token) is renewed.
    The rest of this request stays anonymous; the view answers with a redirect.
    """
    session.clear()
    g.login_cookie = raw


def current_session() -> LoginSession | None:
    from flask_login import current_user

    if not current_user.is_authenticated:
        return None
    return g.get("login_session")


def find_live_session(raw: str) -> LoginSession | None:
    if not raw or len(raw) > MAX_COOKIE_LENGTH:
        return None
    # One query for the row and its user. The request's pending work is never flushed from here.
    with db.session.no_autoflush:
        record = db.session.scalars(_BY_TOKEN, {"token_hash": _hash(raw)}).first()
    if record is None:
        return None
    now = utcnow()
    expired = is_expired(record, now)
    # Write last-seen at a coarse grain: one UPDATE a minute, not one per request.
    grain = min(60.0, current_app.config["SESSION_IDLE_TIMEOUT"] / 10)
    if not expired and (now - record.last_seen_at).total_seconds() < grain:
        return record
    # Touched (or deleted) on a connection of our own, in a short transaction. On SQLite a commit
    # from elsewhere after the request's first read makes the request's own later writes fail
    # ("database is locked"): the read above is ended, so the request reads again after it.
    record_id = record.id
    _touch(record_id, None if expired else now)
    if not (db.session.new or db.session.dirty or db.session.deleted):
        db.session.rollback()
    if expired:
        return None
    with db.session.no_autoflush:
        return db.session.scalars(_BY_ID, {"session_id": record_id}).first()


def _touch(record_id: int, now: datetime | None) -> None:
    """Record activity (or delete the expired row, ``now=None``) in a transaction of its own.

    The statement is the transaction's first, so SQLite takes the write lock directly instead
    of upgrading a read snapshot (which fails at once under concurrency).
    """
    with db.engine.begin() as connection:
        row = LoginSession.id == record_id
        if now is None:
            connection.execute(delete(LoginSession).where(row))
        else:
            connection.execute(update(LoginSession).where(row).values(last_seen_at=now))


def _load_login_early() -> None:
    """Look the login session up at the start of the request, before any view reads or writes."""
    if request.endpoint != "static" and cookie_name() in request.cookies:
        from flask_login import current_user

        current_user._get_current_object()


def live_sessions(user: User, after: history.Cursor | None = None,
                  size: int = history.SUMMARY_SIZE) -> history.Page[Any]:
    """The user's sessions that still count, most recently used first, ``size`` at a time."""
    return history.live_sessions(user, utcnow(), idle_timeout(), max_age(), after, size)


def session_of(user: User, session_id: int) -> LoginSession | None:
    """The session ``session_id`` if it belongs to ``user``; nobody may end another's session."""
    record = db.session.get(LoginSession, session_id)
    return record if record is not None and record.user_id == user.id else None


def revoke(session_id: int) -> None:
    """End one session by id (a bulk delete: no error if a concurrent request ended it first)."""
    with write_transaction():
        db.session.execute(delete(LoginSession).where(LoginSession.id == session_id))


def end_session(record: LoginSession | None) -> None:
    if record is not None:
        revoke(record.id)
    logout_user()  # the rest of this request is anonymous
    session.clear()
    g.clear_login_cookie = True


def end_all_sessions(user: User, keep: LoginSession | None = None) -> int:
    user_id, keep_id = user.id, keep.id if keep is not None else None
    with write_transaction():
        statement = delete(LoginSession).where(LoginSession.user_id == user_id)
        if keep_id is not None:
            statement = statement.where(LoginSession.id != keep_id)
        count = affected(db.session.execute(statement))
    return count


def purge_expired(now: datetime | None = None) -> int:
    now = now or utcnow()
    with write_transaction():
        idle_cut = now - idle_timeout()
        age_cut = now - max_age()
        statement = delete(LoginSession).where(
            or_(LoginSession.last_seen_at <= idle_cut, LoginSession.created_at <= age_cut)
        )
        count = affected(db.session.execute(statement))
    return count


def mark_reauthenticated(record: LoginSession) -> None:
    record_id = record.id
    with write_transaction():
        db.session.execute(update(LoginSession).where(LoginSession.id == record_id).values(reauthenticated_at=utcnow()))


def recently_reauthenticated(record: LoginSession | None, seconds: int = 300) -> bool:
    if record is None or record.reauthenticated_at is None:
        return False
    return (utcnow() - record.reauthenticated_at).total_seconds() <= seconds


@login_manager.request_loader
def _load_user_from_cookie(req: Request) -> User | None:
    raw = req.cookies.get(cookie_name())
    if raw is None:
        return None
    record = find_live_session(raw)
    if record is None:
        g.clear_login_cookie = True  # dead, expired or forged: drop it from the browser
        return None
    g.login_session = record
    return record.user


def _write_cookie(response: Response) -> Response:
    production = current_app.config["PRODUCTION"]
    raw = g.pop("login_cookie", None)
    if raw is not None:
        cookies.LOGIN.set(response, raw, production=production, max_age=current_app.config["SESSION_MAX_AGE"])
    elif g.pop("clear_login_cookie", False) and cookie_name() in request.cookies:
        cookies.LOGIN.delete(response, production=production)
    return response


def init_app(app: Flask) -> None:
    login_manager.session_protection = None  # our own server-side sessions do the protecting
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to open that page.")
    login_manager.localize_callback = str  # flash the text in the page's language, not the lazy object
    login_manager.login_message_category = "info"
    app.before_request(_load_login_early)
    app.after_request(_write_cookie)
