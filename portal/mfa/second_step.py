"""Two-step sign-in: after a correct password, no login session until the second step passes.

The accounts login view makes one call here (``begin_second_step``) when ``needs_second_step``;
the pending step lives server-side for MFA_PENDING_SECONDS, tied to this browser
(``portal.mfa.binding``), and ``finish`` is the only way from it to a login session.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select, update

from portal.accounts import sessions
from portal.accounts.models import LoginAttempt, User
from portal.accounts.requestinfo import Client
from portal.accounts.throttle import attempt_key
from portal.db import write_transaction
from portal.extensions import db
from portal.mfa import binding, factors
from portal.mfa.models import PendingStep

FIRST_STEP_OUTCOME = "password-ok"  # a LoginAttempt outcome: the password was right, the sign-in not done


def needs_second_step(user: Any) -> bool:
    return factors.has_second_factor(user)


def begin_second_step(user: User, next_path: str) -> ResponseReturnValue:
    """Park the sign-in and send the browser to ``/login/verify``.

    The password step was recorded as a success; it is re-labelled, because a success is what
    lifts the throttle (the owner's network is never throttled) and a password alone must not.
    """
    user_id = user.id
    with write_transaction():
        latest = db.session.scalar(select(func.max(LoginAttempt.id)).where(
            LoginAttempt.user_id == user_id, LoginAttempt.outcome == "success"))
        if latest is not None:
            db.session.execute(update(LoginAttempt).where(LoginAttempt.id == latest).values(
                success=False, outcome=FIRST_STEP_OUTCOME))
    binding.start_pending(user_id, next_path)
    return redirect(url_for("mfa.verify"), 303)


def pending_user() -> tuple[PendingStep, User] | None:
    step = binding.pending()
    if step is None:
        return None
    user = db.session.get(User, step.user_id)
    return (step, user) if user is not None else None


def finish(step: PendingStep, user: User, client: Client) -> str | None:
    """End the pending step and sign in; returns where to go, or None when the step was already used."""
    next_path = step.next_path
    if not binding.end_pending(step):
        return None
    record_success(user, client.ip)
    sessions.issue_cookie(sessions.start_session(user, client))
    return next_path or url_for("accounts.account")


def record_success(user: User, ip: str) -> None:
    """The sign-in's successful attempt (the throttle's "known network" and the sign-in history)."""
    user_id, key = user.id, attempt_key(user.email)
    with write_transaction():
        db.session.add(LoginAttempt(ip=ip, email_key=key, user_id=user_id, success=True, outcome="success"))
