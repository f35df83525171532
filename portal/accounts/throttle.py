"""Per-account throttling of failed logins: progressive delay and an hourly cap.

Keyed on an HMAC of the typed address, so unknown addresses are throttled exactly like real
ones and the addresses of people without an account are never stored. Five failures are free;
then the wait doubles from 2 s up to 15 min, and never more than 100 failures count per hour.
An address that has signed in to the account before is never throttled (the owner is not
locked out by someone else's guessing); a successful login or a password change starts over.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from portal.accounts.models import LoginAttempt, User
from portal.db import utcnow
from portal.extensions import db

THROTTLE_FREE_FAILURES = 5
THROTTLE_MAX_DELAY = 15 * 60
THROTTLE_HOURLY_CAP = 100


def attempt_key(raw_email: str) -> str:
    """HMAC of the typed address: per-account throttling without storing strangers' addresses."""
    from portal.accounts import service  # the address rules live there; imported late (cycle)

    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, service.lookup_key(raw_email).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


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
