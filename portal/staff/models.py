"""The staff audit log: who did what, when. Rows are only ever inserted (``audit_log.record``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import Model


class StaffAction(Model):
    __tablename__ = "staff_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The staff member; kept as an id and the address they had, so the log survives their erasure.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    staff_email: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))  # e.g. "newsletter.send", "person.lookup"
    subject: Mapped[str] = mapped_column(String(200), default="")  # what it acted on, e.g. "issue 4"
    detail: Mapped[str] = mapped_column(Text, default="")  # the reason given, or what changed


class StaffAccess(Model):
    """One staff look at a person's data, with the reason given. The person's export shows these."""

    __tablename__ = "staff_accesses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Deleted with the person (their erasure); the staff audit log keeps "person.lookup" only.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    staff_email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(300))
    viewed: Mapped[str] = mapped_column(String(32))  # account | export | erasure


class CaseFile(Model):
    """The desk's working notes on an inquiry: assignee, notes, the one extension of the deadline.

    Kept beside ``privacy_inquiries`` rather than in it, keyed by the inquiry; it goes with the
    inquiry when the retention purge deletes that (ON DELETE CASCADE)."""

    __tablename__ = "staff_case_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("privacy_inquiries.id", ondelete="CASCADE"), unique=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Art. 12(3): once, by up to two months, with the reason (which the sender is told).
    original_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    extension_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseReply(Model):
    """An answer sent from the console, kept with its case (the message went through the ledger)."""

    __tablename__ = "staff_case_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("privacy_inquiries.id", ondelete="CASCADE"), index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    staff_email: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    delivery_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # mail_deliveries.id


class Breach(Model):
    """A personal-data breach (Art. 33): discovered when, what happened, what was decided."""

    __tablename__ = "staff_breaches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(320))  # the staff member's address
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    summary: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # The violation report it came from, if any.
    inquiry_id: Mapped[int | None] = mapped_column(
        ForeignKey("privacy_inquiries.id", ondelete="SET NULL"), nullable=True
    )
    decision: Mapped[str] = mapped_column(String(16), default="pending")  # pending | notify | no-notify
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    authority_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    people_informed: Mapped[str] = mapped_column(Text, default="")  # who was told (Art. 34), and how


class PurgeRun(Model):
    """One run of ``flask privacy purge``: when, and how many rows of each kind it removed."""

    __tablename__ = "staff_purge_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    counts: Mapped[str] = mapped_column(Text, default="{}")  # JSON: {kind: count, or null if it failed}
    failures: Mapped[int] = mapped_column(Integer, default=0)
