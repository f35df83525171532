"""Subscribing and unsubscribing: every change recorded with its time and source."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import bindparam, select

from portal.accounts.models import User
from portal.db import read, utcnow, write_transaction
from portal.extensions import db
from portal.mail.returnpath import ReturnPaths
from portal.newsletter.models import SOURCES, Subscription, SubscriptionEvent
from portal.security.tokens import TokenError, make_token, read_token
from portal.translate import gettext as _

UNSUBSCRIBE_PURPOSE = "unsubscribe"
# Built once: the account pages ask on every view, and building the statement costs more than
# running its cached SQL.
_ACTIVE = select(Subscription.__table__.c.active).where(Subscription.__table__.c.user_id == bindparam("user_id"))


class SubscriptionError(ValueError):
    """A request the person or operator can fix; the message is safe to show."""


def is_subscribed(user: Any) -> bool:
    if user is None or getattr(user, "id", None) is None:
        return False
    # A plain read on the request's connection: through the ORM Session this one-column query
    # cost twice as much.
    return bool(read(_ACTIVE, {"user_id": user.id}).scalar())


def set_subscription(user: User, subscribed: bool, source: str, note: str = "") -> bool:
    """Record the choice; returns whether anything changed. The caller commits.

    A repeated choice (a second click on an unsubscribe link) changes nothing and adds no event,
    so the history only holds real changes.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown subscription source {source!r}")
    row = db.session.get(Subscription, user.id)
    if row is not None and row.active == subscribed:
        return False
    if row is None:
        if not subscribed:
            # Never subscribed: still record an explicit opt-out (a bounce, say) as proof.
            db.session.add(SubscriptionEvent(user_id=user.id, subscribed=False, source=source, note=note[:200]))
            db.session.add(Subscription(user_id=user.id, active=False))
            return True
        row = Subscription(user_id=user.id)
        db.session.add(row)
    row.active = subscribed
    row.changed_at = utcnow()
    db.session.add(SubscriptionEvent(user_id=user.id, subscribed=subscribed, source=source, note=note[:200]))
    return True


def change(user: User, subscribed: bool, source: str, note: str = "") -> bool:
    """``set_subscription`` in a transaction of its own, committed at once.

    The write lock first: on SQLite a read-then-write transaction racing a sender's commits
    would fail with "database is locked" instead of waiting (PostgreSQL: an advisory lock)."""
    with write_transaction("newsletter-subscription"):
        if subscribed and source == "preferences":
            # The person, signed in, asks for the newsletter again: that lifts a suppression of their
            # address (an old bounce, or a complaint they now take back), or they would never get it.
            from portal.mail import suppression

            found = suppression.find(user.email_key)
            if found is not None:
                suppression.lift(user.email_key)
                note = note or f"suppression ({found.reason}) lifted by subscribing again"
        changed = set_subscription(user, subscribed, source, note)
    return changed


def history(user: User) -> list[SubscriptionEvent]:
    return list(
        db.session.scalars(
            select(SubscriptionEvent).where(SubscriptionEvent.user_id == user.id).order_by(SubscriptionEvent.id)
        )
    )


# --- unsubscribe tokens ------------------------------------------------------------------------


def _fingerprint(email_key: str) -> str:
    return hashlib.sha256(email_key.encode()).hexdigest()[:16]


def unsubscribe_token(user_id: int, email_key: str) -> str:
    """No expiry (an old issue's link must keep working), but bound to the account and its
    current address: erasing the account or changing the address kills every old link."""
    return make_token(UNSUBSCRIBE_PURPOSE, {"uid": user_id, "e": _fingerprint(email_key)})


def user_for_token(token: str) -> User:
    try:
        payload = read_token(UNSUBSCRIBE_PURPOSE, token, max_age=None)
    except TokenError:
        raise SubscriptionError(_(
            "This unsubscribe link is not valid. It may have been cut off or changed; "
            "copy the whole link from the email, or sign in and change your choice on the newsletter page."
        )) from None
    user = None
    if isinstance(payload, dict) and isinstance(payload.get("uid"), int):
        user = db.session.get(User, payload["uid"])
    if user is None or payload.get("e") != _fingerprint(user.email_key):
        raise SubscriptionError(_(
            "This unsubscribe link no longer applies: the account's address has changed or the account "
            "was deleted. Sign in to change your choice on the newsletter page."
        ))
    return user


def unsubscribe_mailto(paths: ReturnPaths, user_id: int, email_key: str) -> str | None:
    """The List-Unsubscribe mailto address (RFC 2369) under BOUNCE_ADDRESS, signed like the link:
    bounces+unsub-<uid>-<mac>@domain. None without BOUNCE_ADDRESS. A forged or altered one (someone
    trying to unsubscribe another person by mail) does not verify."""
    if paths.base is None:
        return None
    return paths.tagged(f"unsub-{user_id}-{paths.mac('u', str(user_id), _fingerprint(email_key))}")


def unsubscribe_by_mail(paths: ReturnPaths, rest: str) -> str | None:
    """Mail arrived at an unsubscribe address (``rest`` is "<uid>-<mac>"): unsubscribe, or None
    when it does not verify. Idempotent, like the one-click link."""
    uid_text, _, given = rest.partition("-")
    if not uid_text.isdigit() or len(uid_text) > 18:
        return None
    user = db.session.get(User, int(uid_text))
    if user is None or not hmac.compare_digest(given, paths.mac("u", uid_text, _fingerprint(user.email_key))):
        return None
    changed = set_subscription(user, False, "email-link", note="mail to the List-Unsubscribe address")
    return f"account {user.id} unsubscribed by mail" + ("" if changed else " (already unsubscribed)")


def unsubscribe_with_token(token: str) -> User:
    """One-click unsubscribe: idempotent, commits at once so a send in progress sees it."""
    user = user_for_token(token)
    change(user, False, "email-link")
    return user


SUPPRESS_REASONS = ("bounce", "complaint", "admin")


def suppress(raw_email: str, reason: str) -> User:
    """A hard bounce, a complaint, or a request that reached staff by other means (``admin``)
    is recorded as an unsubscription of that address, with its reason as the source."""
    from portal.addresses import lookup_key

    if reason not in SUPPRESS_REASONS:
        raise SubscriptionError(f"The reason must be one of: {', '.join(SUPPRESS_REASONS)}.")
    user = db.session.scalar(select(User).where(User.email_key == lookup_key(raw_email)))
    if user is None:
        raise SubscriptionError("No account has that address; nothing to suppress "
                                "(`--from-file` puts addresses without an account on the suppression list).")
    from portal.mail import suppression as mail_suppression

    with write_transaction("newsletter-subscription"):
        # On the mail suppression list too, so no bulk mail reaches the address whatever happens to
        # the subscription later (an import, a second account with the same address after erasure).
        mail_suppression.suppress(user.email_key, _LIST_REASONS[reason], "cli", user_id=user.id,
                                  detail=f"suppressed by operator ({reason})")
        set_subscription(user, False, reason, note=f"suppressed by operator ({reason})")
    return user


_LIST_REASONS = {"bounce": "bounce", "complaint": "complaint", "admin": "manual"}
