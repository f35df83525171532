"""The suppression list: addresses that get no bulk mail, and why.

Every way in — an SES notification, a DSN or ARF report, a 5xx from the relay, an operator's
command, a relay's exported list — ends in ``suppress``. The person's account (when the address
has one) also gets an unsubscription with the reason as its source, sent as a signal so the
newsletter records it without the mail engine importing the newsletter.

Suppression only stops mail of kinds declared ``bulk`` (the engine checks at send time); the
mail a person asks for (a password reset) still goes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from blinker import Namespace
from sqlalchemy import delete, select

from portal.accounts.models import User
from portal.appctx import current_app_object
from portal.db import affected
from portal.extensions import db
from portal.mail.feedback_models import MANUAL, REASONS, SOURCES, Suppression, address_hash

_signals = Namespace()
# sender: the app; kwargs: user (User), reason, source, detail — inside the caller's transaction
address_suppressed = _signals.signal("address-suppressed")


class SuppressionError(ValueError):
    """Bad input from an operator; the message is safe to show."""


def normalise(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


def find(address: str) -> Suppression | None:
    return db.session.scalar(select(Suppression).where(Suppression.address_hash == address_hash(normalise(address))))


def suppress(address: str, reason: str, source: str, *, user_id: int | None = None, detail: str = "") -> bool:
    """Put ``address`` on the list; True when it was not there before. The caller commits.

    A second report about a suppressed address changes nothing (the first reason stands; the
    reports themselves are in ``Feedback``)."""
    if reason not in REASONS:
        raise SuppressionError(f"The reason must be one of: {', '.join(REASONS)}.")
    if source not in SOURCES:
        raise ValueError(f"unknown suppression source {source!r}")
    address = normalise(address)
    if not address or "@" not in address or len(address) > 320:
        raise SuppressionError(f"Not an email address: {address[:80]!r}")
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or user.email_key != address:
        user = db.session.scalar(select(User).where(User.email_key == address))
    existing = find(address)
    if existing is not None:
        if existing.address is None:  # re-learnt after an erasure: the address is current again
            existing.address = address
        if existing.user_id is None and user is not None:
            existing.user_id = user.id
        return False
    db.session.add(Suppression(address_hash=address_hash(address), address=address, reason=reason, source=source,
                               detail=detail[:500], user_id=user.id if user is not None else None))
    if user is not None:
        app = current_app_object()
        address_suppressed.send(app, user=user, reason=reason, source=source, detail=detail)
    return True


def lift(address: str) -> bool:
    """Take ``address`` off the list (its owner asked for the newsletter again). The caller commits."""
    result = db.session.execute(delete(Suppression).where(Suppression.address_hash == address_hash(normalise(address))))
    return bool(affected(result))


def suppressed_among(addresses: Iterable[str]) -> dict[str, str]:
    """{normalised address: reason} for those of ``addresses`` on the list (by hash, so erased
    people's suppressions count too)."""
    by_hash = {address_hash(normalise(a)): normalise(a) for a in addresses}
    if not by_hash:
        return {}
    rows = db.session.execute(
        select(Suppression.address_hash, Suppression.reason).where(Suppression.address_hash.in_(list(by_hash)))
    ).all()
    return {by_hash[h]: reason for h, reason in rows}


def for_user(user: Any) -> list[Suppression]:
    return list(db.session.scalars(
        select(Suppression).where((Suppression.user_id == user.id) | (Suppression.address == user.email_key))
        .order_by(Suppression.id)
    ))


def manual(address: str, detail: str = "") -> bool:
    """An operator's suppression (``flask newsletter suppress``)."""
    return suppress(address, MANUAL, "cli", detail=detail)
