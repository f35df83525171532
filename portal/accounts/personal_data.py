"""The account's own share of the export and the erasure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, select

from portal import personal_data
from portal.accounts import sessions
from portal.accounts.models import LoginAttempt, LoginSession, User
from portal.db import affected, utcnow
from portal.extensions import db
from portal.i18n import N_


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def export(user: User) -> dict[str, Any]:
    sessions = db.session.scalars(select(LoginSession).where(LoginSession.user_id == user.id)).all()
    attempts = db.session.scalars(
        select(LoginAttempt).where(LoginAttempt.user_id == user.id).order_by(LoginAttempt.at)
    ).all()
    return {
        "account": {
            "id": user.id,
            "email": user.email,
            "created_at": _iso(user.created_at),
            "confirmed_at": _iso(user.confirmed_at),
            "password_changed_at": _iso(user.password_changed_at),
            "is_admin": user.is_admin,
            # The password itself is never stored; its bcrypt hash is not exported either.
        },
        "sessions": [
            {
                "created_at": _iso(s.created_at),
                "last_seen_at": _iso(s.last_seen_at),
                "ip": s.ip,
                "user_agent": s.user_agent,
            }
            for s in sessions
        ],
        "login_attempts": [
            {"at": _iso(a.at), "ip": a.ip, "success": a.success, "outcome": a.outcome} for a in attempts
        ],
    }


def erase(user: User) -> None:
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    # Attempts against the address (with or without the account link) and their IPs go too.
    db.session.execute(
        delete(LoginAttempt).where((LoginAttempt.user_id == user.id) | (LoginAttempt.email_key == _key_of(user)))
    )
    db.session.delete(user)


def _key_of(user: User) -> str:
    from portal.accounts.service import attempt_key

    return attempt_key(user.email)


def purge_login_attempts() -> int:
    cutoff = utcnow() - timedelta(days=current_app.config["LOGIN_IP_RETENTION_DAYS"])
    count = affected(db.session.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff)))
    db.session.commit()
    return count


def purge_unconfirmed_accounts() -> int:
    cutoff = utcnow() - timedelta(days=current_app.config["UNCONFIRMED_ACCOUNT_RETENTION_DAYS"])
    stale = db.session.scalars(select(User).where(User.confirmed_at.is_(None), User.created_at < cutoff)).all()
    for user in stale:
        for handler in personal_data.handlers():
            handler.erase(user)
    db.session.commit()
    return len(stale)


def register(app: Flask) -> None:
    personal_data.register(app, "account", (User, LoginSession, LoginAttempt), export, erase, order=1000)
    personal_data.register_retention(app, N_("login attempts (with IP addresses)"), purge_login_attempts,
                                      "LOGIN_IP_RETENTION_DAYS")
    personal_data.register_retention(app, N_("expired login sessions"), sessions.purge_expired,
                                     "SESSION_IDLE_TIMEOUT")
    personal_data.register_retention(app, N_("unconfirmed accounts"), purge_unconfirmed_accounts,
                                      "UNCONFIRMED_ACCOUNT_RETENTION_DAYS")
