"""Newsletter data: subscriptions with their history, and issues."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import Model
from portal.mail.models import CLAIMED, FAILED, PENDING, SENDING, SENT, SKIPPED, STATUSES, UNCERTAIN, Delivery

# Where a subscription change came from: the proof that the recipient asked for it.
SOURCES = ("signup", "preferences", "email-link", "admin", "bounce", "complaint")

# The per-recipient ledger is the mail engine's: one row per copy, kind "newsletter".
__all__ = [
    "CLAIMED",
    "FAILED",
    "PENDING",
    "SENDING",
    "SENT",
    "SKIPPED",
    "SOURCES",
    "STATUSES",
    "UNCERTAIN",
    "Delivery",
    "Issue",
    "IssueText",
    "Subscription",
    "SubscriptionEvent",
]


class Subscription(Model):
    """The current state, one row per user who ever chose; absence means not subscribed."""

    __tablename__ = "newsletter_subscriptions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriptionEvent(Model):
    """Every change with its time and source, kept for as long as the account exists."""

    __tablename__ = "newsletter_subscription_events"
    # The account's newsletter history, newest first, a page at a time.
    __table_args__ = (Index("ix_newsletter_subscription_events_user_id_at", "user_id", "at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    subscribed: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(200), default="")


class Issue(Model):
    """One newsletter issue. ``started_month`` + ``cap_slot`` are the monthly cap in the schema:
    unique together and the slot can only be 1 or 2, so a third issue in a month cannot be
    recorded as started even by code that skips the checks."""

    __tablename__ = "newsletter_issues"
    __table_args__ = (
        UniqueConstraint("started_month", "cap_slot", name="uq_newsletter_issues_month_slot"),
        CheckConstraint("cap_slot IN (1, 2)", name="cap_slot_1_or_2"),
        CheckConstraint(
            "(started_at IS NULL AND started_month IS NULL AND cap_slot IS NULL)"
            " OR (started_at IS NOT NULL AND started_month IS NOT NULL AND cap_slot IS NOT NULL)",
            name="started_has_slot",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "YYYY-MM" of started_at in TIMEZONE: the calendar month the cap counts in.
    started_month: Mapped[str | None] = mapped_column(String(7), nullable=True)
    cap_slot: Mapped[int | None] = mapped_column(Integer, nullable=True)
    second_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Scheduled from the console: the delivery workers start it once due (portal.newsletter.schedule),
    # with the second-issue flag and reason given when it was scheduled; the claim is a lease.
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    schedule_second: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    schedule_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    schedule_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    schedule_error: Mapped[str | None] = mapped_column(String(500), nullable=True)  # why it did not start
    # Paused by staff: its waiting copies are held out of the queue until resumed.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IssueText(Model):
    """An issue's subject and body in one more language; ``Issue`` holds the default language's."""

    __tablename__ = "newsletter_issue_texts"
    __table_args__ = (UniqueConstraint("issue_id", "language", name="uq_newsletter_issue_texts_issue_language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("newsletter_issues.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
