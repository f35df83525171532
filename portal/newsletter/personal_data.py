"""The newsletter's share of the data export and the erasure."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from portal import personal_data
from portal.accounts.models import User
from portal.extensions import db
from portal.newsletter.models import Delivery, Issue, Subscription, SubscriptionEvent


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def export(user: User) -> dict[str, Any]:
    subscription = db.session.get(Subscription, user.id)
    events = db.session.scalars(
        select(SubscriptionEvent).where(SubscriptionEvent.user_id == user.id).order_by(SubscriptionEvent.id)
    ).all()
    deliveries = db.session.execute(
        select(Delivery, Issue.subject)
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(Delivery.user_id == user.id)
        .order_by(Delivery.id)
    ).all()
    return {
        "newsletter": {
            "subscribed": bool(subscription and subscription.active),
            "changed_at": _iso(subscription.changed_at) if subscription else None,
            "history": [
                {"at": _iso(e.at), "subscribed": e.subscribed, "source": e.source, "note": e.note} for e in events
            ],
            "deliveries": [
                {
                    "issue_id": d.issue_id,
                    "subject": subject,
                    "status": d.status,
                    "attempts": d.attempts,
                    "sent_at": _iso(d.sent_at),
                    "last_error": d.last_error,
                }
                for d, subject in deliveries
            ],
        }
    }


def erase(user: User) -> None:
    """Subscription, history and ledger rows all go. The ledger never holds the address, so
    nothing of it could survive; removing the rows also removes the link to the person. An issue
    being sent skips a deleted row (the sender re-reads the account before each message)."""
    db.session.execute(delete(Delivery).where(Delivery.user_id == user.id))
    db.session.execute(delete(SubscriptionEvent).where(SubscriptionEvent.user_id == user.id))
    db.session.execute(delete(Subscription).where(Subscription.user_id == user.id))


def register(app: Flask) -> None:
    # The copies' rows are the mail ledger's (registered by portal.mail); the export shows them here too.
    personal_data.register(app, "newsletter", (Subscription, SubscriptionEvent), export, erase, order=100)
