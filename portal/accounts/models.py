"""Account data: the user, their server-side login sessions and the login attempt log."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime, utcnow
from portal.extensions import Model


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # As the person typed it, normalised by email-validator (domain lower-cased, IDNA, NFC).
    email: Mapped[str] = mapped_column(String(320))
    # Lower-cased copy: uniqueness is case-insensitive and enforced by the database.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Chosen with the language switcher while signed in; every email to them is in it (None:
    # the language of the request that causes the message).
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)

    sessions: Mapped[list[LoginSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    def __repr__(self) -> str:  # never the email: reprs end up in logs
        return f"<User {self.id}>"


class LoginSession(Model):
    """The server side of the session cookie. Deleting the row is logging out."""

    __tablename__ = "login_sessions"
    # A person's sessions newest first, a page at a time (portal/accounts/history.py).
    __table_args__ = (Index("ix_login_sessions_user_id_last_seen_at", "user_id", "last_seen_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 of the random id in the cookie; the id itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # When the password was last confirmed in this session (export and erasure ask again).
    reauthenticated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(256), default="")

    user: Mapped[User] = relationship(back_populates="sessions")


class LoginAttempt(Model):
    """Every login attempt: the policy's "your IP address is stored to protect your account"."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_key_at", "email_key", "at"),
        Index("ix_login_attempts_user_id_at", "user_id", "at", "id"),  # sign-in history, newest first
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ip: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # HMAC of the lower-cased email tried, for per-account throttling without storing the
    # address of people who have no account here.
    email_key: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    # success | failure | unconfirmed | throttled (throttled attempts never extend a lockout)
    outcome: Mapped[str] = mapped_column(String(16), default="failure")
