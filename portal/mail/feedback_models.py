"""What comes back after a message left: suppressions, bounce/complaint reports, seen SNS ids.

``Suppression`` is the list of addresses that get no bulk mail (newsletter, marketing) whatever
their subscription says: hard bounces, complaints, and addresses an operator suppressed. It is
keyed by a SHA-256 of the normalised address so that, after the person's erasure, the row can
keep honouring the objection (GDPR Art. 21(3): no more direct marketing) without keeping the
address itself: erasure blanks ``address``, ``user_id`` and ``detail`` and leaves the hash.

``Feedback`` is one report about one message (a bounce, a soft bounce, a complaint, a delivery):
it counts soft bounces towards MAIL_SOFT_BOUNCE_LIMIT and gives the per-issue rates. Reports
are deleted after MAIL_FEEDBACK_RETENTION_DAYS and with the person's account.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import Model

# Why an address is suppressed.
BOUNCE, COMPLAINT, MANUAL = "bounce", "complaint", "manual"
REASONS = (BOUNCE, COMPLAINT, MANUAL)
# Where the news came from: an SES notification, an RFC 3464 DSN, an RFC 5965 ARF report, the
# engine's own SMTP conversation (a 5xx for the recipient), an operator's command.
SOURCES = ("ses", "dsn", "arf", "smtp", "cli")
# What a report says about a message.
HARD_BOUNCE, SOFT_BOUNCE, COMPLAINED, DELIVERED = "bounce", "soft-bounce", "complaint", "delivery"
FEEDBACK_KINDS = (HARD_BOUNCE, SOFT_BOUNCE, COMPLAINED, DELIVERED)


def address_hash(address: str) -> str:
    """The lookup key of an address: SHA-256 of its normalised (lower-case) form."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


class Suppression(Model):
    __tablename__ = "mail_suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The normalised address, shown to the operator and in the person's export; NULL after erasure.
    address: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(8))
    detail: Mapped[str] = mapped_column(String(500), default="")
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feedback(Model):
    __tablename__ = "mail_feedback"
    __table_args__ = (
        Index("ix_mail_feedback_address_kind_at", "address_hash", "kind", "at"),
        Index("ix_mail_feedback_issue_kind", "issue_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(8))
    # No foreign keys to the ledger: its rows are purged sooner (MAIL_LOG_RETENTION_DAYS).
    delivery_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    issue_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    address_hash: Mapped[str] = mapped_column(String(64))
    # The status code and the remote server's words (e.g. "5.1.1 smtp; 550 no such user").
    detail: Mapped[str] = mapped_column(String(500), default="")


class SeenNotification(Model):
    """SNS MessageIds already processed (replay protection), kept for a day."""

    __tablename__ = "mail_sns_seen"

    message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
