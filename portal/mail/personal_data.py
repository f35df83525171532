"""The mail ledger's share of the export, the erasure and the retention purge — and of the
suppression list and the bounce/complaint reports."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, select, update

from portal import personal_data
from portal.extensions import db
from portal.i18n import N_
from portal.mail import feedback, status, suppression
from portal.mail.feedback_models import Feedback, Suppression, address_hash
from portal.mail.models import Delivery

# Said in the export, so the person knows what stays after an erasure and why.
SUPPRESSION_AFTER_ERASURE = (
    "After your account is erased, only a one-way hash (SHA-256) of each suppressed address is kept, "
    "with its reason and date, so that we keep honouring your objection and never send bulk mail to "
    "that address again (GDPR Art. 17(3), 21(3)). The address itself, the link to you and the details go."
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def export(user: Any) -> dict[str, Any]:
    rows = db.session.scalars(select(Delivery).where(Delivery.user_id == user.id).order_by(Delivery.id)).all()
    reports = db.session.scalars(
        select(Feedback).where((Feedback.user_id == user.id) | (Feedback.address_hash == address_hash(user.email_key)))
        .order_by(Feedback.id)
    ).all()
    return {
        "emails": [
            {
                "kind": row.kind,
                "issue_id": row.issue_id,
                "status": row.status,
                "queued_at": _iso(row.created_at),
                "sent_at": _iso(row.sent_at),
                "delivered_at": _iso(row.delivered_at),
                "attempts": row.attempts,
                "message_id": row.message_id,
                "last_error": row.last_error,
            }
            for row in rows
        ],
        "mail_suppressions": {
            "note": SUPPRESSION_AFTER_ERASURE,
            "suppressions": [
                {"address": s.address, "reason": s.reason, "source": s.source, "since": _iso(s.created_at),
                 "detail": s.detail}
                for s in suppression.for_user(user)
            ],
        },
        "mail_reports": [
            {"at": _iso(r.at), "kind": r.kind, "source": r.source, "issue_id": r.issue_id, "detail": r.detail}
            for r in reports
        ],
    }


def erase(user: Any) -> None:
    """Queued and logged mail to the person goes with the account (a message in flight is left to
    finish: its row is deleted, so nothing of it stays), and so do the reports about it. A
    suppression stays as a hash only (see SUPPRESSION_AFTER_ERASURE)."""
    db.session.execute(delete(Delivery).where(Delivery.user_id == user.id))
    if getattr(user, "email", None):
        db.session.execute(delete(Delivery).where(Delivery.to_addr == user.email))
    db.session.execute(delete(Feedback).where(
        (Feedback.user_id == user.id) | (Feedback.address_hash == address_hash(user.email_key))))
    db.session.execute(
        update(Suppression)
        .where((Suppression.user_id == user.id) | (Suppression.address == user.email_key))
        .values(address=None, user_id=None, detail="")
    )


def register(app: Flask) -> None:
    personal_data.register(app, "mail", (Delivery, Suppression, Feedback), export, erase, order=90)
    personal_data.register_retention(app, N_("delivered and failed emails"), status.purge_old,
                                     "MAIL_LOG_RETENTION_DAYS")
    personal_data.register_retention(app, N_("bounce, complaint and delivery reports"), feedback.purge_old,
                                     "MAIL_FEEDBACK_RETENTION_DAYS")
