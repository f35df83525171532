"""The second factors' share of the export and the erasure: names and ids, never a secret."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from portal import personal_data
from portal.extensions import db
from portal.mfa import binding
from portal.mfa.models import Authenticator, Challenge, KnownBrowser, Passkey, PendingStep, RecoveryCode


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def export(user: Any) -> dict[str, Any]:
    user_id = user.id
    app = db.session.scalar(select(Authenticator).where(Authenticator.user_id == user_id))
    codes = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id)).all()
    browsers = db.session.scalars(select(KnownBrowser).where(KnownBrowser.user_id == user_id)).all()
    return {
        "second_factors": {
            "passkeys": [
                {"name": p.name, "credential_id": p.credential_id, "created_at": _iso(p.created_at),
                 "last_used_at": _iso(p.last_used_at), "sign_count": p.sign_count,
                 "backup_eligible": p.backup_eligible, "backed_up": p.backed_up}
                for p in db.session.scalars(select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id))
            ],
            # The secret itself is never exported: whoever holds the file could make codes.
            "authenticator_app": None if app is None else {
                "created_at": _iso(app.created_at), "confirmed_at": _iso(app.confirmed_at)},
            "recovery_codes": {"total": len(codes), "unused": sum(1 for c in codes if c.used_at is None),
                               "used_at": [_iso(c.used_at) for c in codes if c.used_at is not None]},
            "known_browsers": [
                {"browser": b.description, "first_seen_at": _iso(b.first_seen_at), "last_seen_at": _iso(b.last_seen_at)}
                for b in browsers
            ],
        }
    }


def erase(user: Any) -> None:
    user_id = user.id
    for model in (Passkey, Authenticator, RecoveryCode, PendingStep, Challenge, KnownBrowser):
        db.session.execute(delete(model).where(model.user_id == user_id))


def register(app: Flask) -> None:
    personal_data.register(app, "second factors", (Passkey, Authenticator, RecoveryCode, PendingStep, Challenge,
                                              KnownBrowser), export, erase, order=900)
    personal_data.register_retention(app, "expired sign-in steps and passkey challenges", binding.purge_expired,
                                     "MFA_PENDING_SECONDS")
