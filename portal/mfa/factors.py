"""Which second factors an account has, and the one check of a code or passkey answer.

Every check goes through the accounts throttle first (the same per-account budget as the
password), and every wrong answer is recorded as a failed attempt against the account: guessing
codes costs exactly what guessing passwords does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select

from portal.accounts import throttle
from portal.accounts.models import User
from portal.extensions import db
from portal.mfa import notices, passkeys, recovery, totp
from portal.mfa.models import Authenticator, Passkey
from portal.mfa.passkeys import PasskeyError
from portal.translate import gettext as _


def has_second_factor(user: Any) -> bool:
    user_id = getattr(user, "id", None)
    if user_id is None:
        return False
    return bool(db.session.scalar(select(or_(
        exists().where(Passkey.user_id == user_id),
        exists().where(Authenticator.user_id == user_id, Authenticator.confirmed_at.is_not(None)),
    ))))


def staff_without_second_factor() -> list[str]:
    """Addresses of staff accounts with neither a passkey nor an active authenticator app."""
    has_passkey = exists().where(Passkey.user_id == User.id)
    has_app = exists().where(Authenticator.user_id == User.id, Authenticator.confirmed_at.is_not(None))
    return list(db.session.scalars(
        select(User.email).where(User.is_admin.is_(True), ~has_passkey, ~has_app).order_by(User.id)
    ))


def staff_count() -> int:
    return int(db.session.scalar(select(func.count()).where(User.is_admin.is_(True))) or 0)


@dataclass(frozen=True)
class Check:
    ok: bool
    method: str = ""  # totp | recovery | passkey
    retry_after: int = 0  # > 0: refused by the throttle without checking
    message: str = ""


def check(user: User, code: str | None, credential: str | None, purpose: str, ip: str,
          now: float | None = None) -> Check:
    """A code (authenticator app or recovery) or a passkey answer for ``user``; ``purpose`` names
    the challenge the passkey answered (``verify`` at sign-in, ``confirm`` for re-authentication)."""
    key = throttle.attempt_key(user.email)
    delay = throttle.delay_for(key, user, ip)
    if delay:
        throttle.record_attempt(ip, key, user, "throttled")
        return Check(ok=False, retry_after=delay)
    user_id, email = user.id, user.email
    if credential:
        try:
            passkeys.authenticate(purpose, credential, user_id)
        except PasskeyError as error:
            throttle.record_attempt(ip, key, user, "failure")
            return Check(ok=False, message=str(error))
        return Check(ok=True, method="passkey")
    app = totp.active(user_id)
    if app is not None and totp.looks_like_code(code) and totp.accept(app, code or "", now):
        return Check(ok=True, method="totp")
    if recovery.looks_like_code(code) and recovery.use(
        user_id, code or "", also=lambda: notices.recovery_code_used(email, user_id, recovery.remaining(user_id))
    ):
        return Check(ok=True, method="recovery")
    throttle.record_attempt(ip, key, user, "failure")
    return Check(ok=False, message=_("That code is not correct, or it was already used. Please try again."))
