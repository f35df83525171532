"""The mail ledger's share of the export, the erasure and the retention purge."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from portal import personal_data
from portal.extensions import db
from portal.mail import status
from portal.mail.models import Delivery


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def export(user: Any) -> dict[str, Any]:
    rows = db.session.scalars(select(Delivery).where(Delivery.user_id == user.id).order_by(Delivery.id)).all()
    return {
        "emails": [
            {
                "kind": row.kind,
                "issue_id": row.issue_id,
                "status": row.status,
                "queued_at": _iso(row.created_at),
                "sent_at": _iso(row.sent_at),
                "attempts": row.attempts,
                "message_id": row.message_id,
                "last_error": row.last_error,
            }
            for row in rows
        ]
    }


def erase(user: Any) -> None:
    """Queued and logged mail to the person goes with the account (a message in flight is left to
    finish: its row is deleted, so nothing of it stays)."""
    db.session.execute(delete(Delivery).where(Delivery.user_id == user.id))
    if getattr(user, "email", None):
        db.session.execute(delete(Delivery).where(Delivery.to_addr == user.email))


def register() -> None:
    personal_data.register("mail", (Delivery,), export, erase, order=90)
    personal_data.register_retention("delivered and failed emails", status.purge_old, "MAIL_LOG_RETENTION_DAYS")
