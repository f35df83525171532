"""People: one account found by its exact address, for a stated reason, and what staff may do.

There is no list and no search: a staff member types the whole address (normalised the way
signup normalises it) and a reason, and sees what the person's own account page shows them.
Every look is written to the access log the person's export includes, and to the staff audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal.accounts import history, sessions
from portal.accounts.models import LoginAttempt, LoginSession, User
from portal.addresses import AddressError, email_key, normalise_email
from portal.db import write_transaction
from portal.extensions import db
from portal.mail import suppression
from portal.mail.feedback_models import Suppression
from portal.newsletter import subscriptions
from portal.staff import access_log, audit_log
from portal.staff.models import StaffAccess
from portal.translate import gettext as _

MIN_REASON, MAX_REASON = 5, 300


class PeopleError(ValueError):
    """Something the staff member can fix; the message is safe to show, ``field`` is what to fix."""

    def __init__(self, message: str, field: str = "email") -> None:
        super().__init__(message)
        self.field = field


def clean_reason(raw: str) -> str:
    reason = " ".join((raw or "").split())
    if len(reason) < MIN_REASON:
        raise PeopleError(_("Say why you need to look (at least %(count)d characters).", count=MIN_REASON), "reason")
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise PeopleError(_("Please keep the reason under %(count)d characters.", count=MAX_REASON), "reason")
    return reason


def find_exact(raw_email: str) -> User | None:
    """The account with exactly this address (case-insensitive, as at sign-in), or None."""
    try:
        key = email_key(normalise_email(raw_email))
    except AddressError:
        raise PeopleError(_("That is not a complete email address. Type the person's whole address.")) from None
    return db.session.scalar(select(User).where(User.email_key == key))


def look_up(staff: Any, raw_email: str, reason: str, viewed: str = "account") -> StaffAccess:
    """Find the account and log the look (access log + staff audit log) in one transaction."""
    reason = clean_reason(reason)
    with write_transaction():
        user = find_exact(raw_email)
        if user is None:
            # Logged without the typed address: it may belong to somebody with no account here.
            audit_log.record(staff, "person.lookup", "no account")
            db.session.commit()
            raise PeopleError(_("No account has that address."))
        entry = access_log.record(staff, user, reason, viewed)
        audit_log.record(staff, "person.lookup", f"account {user.id}")
    return entry


def look_at(staff: Any, user: User, reason: str, viewed: str) -> StaffAccess:
    """A look at a known account (from a case), logged like a lookup; the caller commits."""
    entry = access_log.record(staff, user, clean_reason(reason), viewed)
    audit_log.record(staff, f"person.{viewed}", f"account {user.id}")
    return entry


@dataclass(frozen=True)
class Person:
    """What the account page shows its owner, and nothing else."""

    user: User
    subscribed: bool
    suppression: Suppression | None
    sessions: list[LoginSession]
    attempts: list[LoginAttempt]


def person(user: User) -> Person:
    return Person(
        user=user,
        subscribed=subscriptions.is_subscribed(user),
        suppression=suppression.find(user.email_key),
        sessions=sessions.live_sessions(user).rows,
        attempts=history.sign_ins(user).rows,  # the account page's own query and index
    )


def end_sessions(staff: Any, look: StaffAccess) -> int:
    user = db.session.get(User, look.user_id)
    if user is None:
        raise PeopleError(_("That account no longer exists."))
    count = sessions.end_all_sessions(user)
    with write_transaction():
        audit_log.record(staff, "person.sessions-ended", f"account {look.user_id}", f"{count} session(s)")
    return count


def suppress_newsletter(staff: Any, look: StaffAccess) -> None:
    """The newsletter's own operator suppression: unsubscribed and on the suppression list."""
    user = db.session.get(User, look.user_id)
    if user is None:
        raise PeopleError(_("That account no longer exists."))
    subscriptions.suppress(user.email, "admin")
    with write_transaction():
        audit_log.record(staff, "person.newsletter-suppressed", f"account {look.user_id}")


def restore_newsletter(staff: Any, look: StaffAccess) -> bool:
    """Lift the suppression of the address. It does not subscribe the person again: only they
    can give that consent (on their newsletter page)."""
    user = db.session.get(User, look.user_id)
    if user is None:
        raise PeopleError(_("That account no longer exists."))
    key, user_id = user.email_key, user.id
    with write_transaction("newsletter-subscription"):
        lifted = suppression.lift(key)
        audit_log.record(staff, "person.newsletter-restored", f"account {user_id}",
                         "suppression lifted" if lifted else "was not suppressed")
    return lifted
