"""Per-account throttling of password checks: progressive delay and an hourly cap.

Every check of a password against an account goes through ``check_password``: the login form
and the forms that re-ask the password of a signed-in person (change password, change address,
export, erasure). A stolen session cookie therefore buys no more guesses than the login form.

Keyed on an HMAC of the typed address, so unknown addresses are throttled exactly like real
ones and the addresses of people without an account are never stored. Five failures are free;
then the wait doubles from 2 s up to 15 min, and never more than 100 failures count per hour.
An address that has signed in to the account before is never throttled (the owner is not
locked out by someone else's guessing); a successful login or a password change starts over.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select
from werkzeug.exceptions import TooManyRequests

from portal.accounts.models import LoginAttempt, User
from portal.addresses import lookup_key
from portal.db import utcnow, write_transaction
from portal.extensions import db
from portal.security.passwords import dummy_verify, verify_password

THROTTLE_FREE_FAILURES = 5
THROTTLE_MAX_DELAY = 15 * 60
THROTTLE_HOURLY_CAP = 100


def attempt_key(raw_email: str) -> str:
    """HMAC of the typed address: per-account throttling without storing strangers' addresses."""

    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, lookup_key(raw_email).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def delay_for(key: str, user: User | None, ip: str) -> int:
    """Seconds the next attempt on this account must wait; 0 when it may go ahead."""
    now = utcnow()
    window_start = now - timedelta(hours=1)
    if user is not None:
        window_start = max(window_start, user.password_changed_at)
        # The owner's own network is never locked out by somebody else's guessing.
        known_ip = db.session.scalar(
            select(func.count()).where(
                LoginAttempt.user_id == user.id, LoginAttempt.ip == ip, LoginAttempt.success.is_(True)
            )
        )
        if known_ip:
            return 0
    last_success = db.session.scalar(
        select(func.max(LoginAttempt.at)).where(LoginAttempt.email_key == key, LoginAttempt.success.is_(True))
    )
    if last_success is not None:
        window_start = max(window_start, last_success)
    failures, last_failure = db.session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.email_key == key,
            LoginAttempt.outcome == "failure",
            LoginAttempt.at > window_start,
        )
    ).one()
    if failures >= THROTTLE_HOURLY_CAP:
        return THROTTLE_MAX_DELAY
    if failures < THROTTLE_FREE_FAILURES or last_failure is None:
        return 0
    delay = min(2 ** (failures - THROTTLE_FREE_FAILURES + 1), THROTTLE_MAX_DELAY)
    wait = (last_failure + timedelta(seconds=delay) - now).total_seconds()
    return max(0, int(wait + 0.999))


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    retry_after: int = 0  # > 0: refused without checking; the seconds to wait


class TooManyPasswordChecks(TooManyRequests):
    """A password form refused by the per-account throttle: 429 with Retry-After."""

    description = "There have been too many wrong passwords for this account. Please wait and try again."

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)  # sets .retry_after and the header


def record_attempt(ip: str, key: str, user: User | None, outcome: str) -> None:
    """Record a refused check: ``failure`` or ``throttled`` (never a success, so success=False)."""
    with write_transaction():
        db.session.add(LoginAttempt(ip=ip, email_key=key, user_id=user.id if user else None, outcome=outcome))


def check_password(user: User | None, password: str, ip: str, key: str | None = None) -> PasswordCheck:
    """The one gate for every password check: the account's throttle, then bcrypt.

    ``key`` is the login form's key for the typed address; the other forms check the account's
    own address, which has the same key, so every form spends one budget. A throttled check
    does no bcrypt work; a wrong password is recorded as a failure whichever form it came from.
    """
    if key is None:
        if user is None:
            raise ValueError("check_password needs a user or the typed address's key")
        key = attempt_key(user.email)
    delay = delay_for(key, user, ip)
    if delay:
        record_attempt(ip, key, user, "throttled")
        return PasswordCheck(ok=False, retry_after=delay)
    if user is None:
        dummy_verify(password)  # unknown addresses cost the same time as real ones
        record_attempt(ip, key, None, "failure")
        return PasswordCheck(ok=False)
    if not verify_password(password, user.password_hash):
        record_attempt(ip, key, user, "failure")
        return PasswordCheck(ok=False)
    return PasswordCheck(ok=True)


def password_ok(user: User, password: str, ip: str) -> bool:
    """``check_password`` for a signed-in person's forms: True or False, or a 429 when throttled."""
    check = check_password(user, password, ip)
    if check.retry_after:
        raise TooManyPasswordChecks(check.retry_after)
    return check.ok
