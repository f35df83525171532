"""Second factors and the short-lived state of signing in with them.

Nothing here holds a secret in the clear: passkeys keep only their public key, the authenticator
app's secret is encrypted (``portal.mfa.keyring``), recovery codes are stored as HMACs, and the
pending sign-in steps and WebAuthn challenges are found by the SHA-256 of a random value that
lives only in the person's signed Flask session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import Model


class Passkey(Model):
    """One WebAuthn credential (a discoverable one: the account is found from the passkey)."""

    __tablename__ = "mfa_passkeys"
    # The account's list, oldest first, straight from the index (tests/test_query_plans.py).
    __table_args__ = (Index("ix_mfa_passkeys_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # base64url of the credential id, as the browser sends it back.
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The random WebAuthn user handle: every passkey of one account carries the same one.
    user_handle: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(64))
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Authenticator(Model):
    """The authenticator app (TOTP): one per account, active once confirmed with a code."""

    __tablename__ = "mfa_authenticators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The 30-second step of the last code accepted: that code, and any older, never works again.
    last_step: Mapped[int] = mapped_column(Integer, default=0)


class RecoveryCode(Model):
    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PendingStep(Model):
    """A password accepted, the second step not yet: no login session exists until it is."""

    __tablename__ = "mfa_pending_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    binding_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    next_path: Mapped[str] = mapped_column(String(512), default="")


class Challenge(Model):
    """A WebAuthn challenge: single use, short-lived, bound to the Flask session that asked."""

    __tablename__ = "mfa_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    binding_hash: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # register | login | verify | confirm
    challenge: Mapped[str] = mapped_column(String(128))  # base64url
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    # For a registration: the user handle the browser was given, which the new passkey will carry.
    user_handle: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class KnownBrowser(Model):
    """A browser that has signed in to the account: the HMAC of a random id in its device cookie."""

    __tablename__ = "mfa_known_browsers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_hash: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(String(128), default="")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
