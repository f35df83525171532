"""The delivery ledger: one row per message and recipient, for every kind of mail the portal sends.

Account mail, data-protection notices and newsletter copies share this table and one engine. A
row is written in the transaction of the change that causes it (the transactional outbox), so a
committed change always has its message and a rolled-back one never has.

Transactional rows carry their rendered bytes (``raw``) and address; the bytes are dropped as
soon as the server accepts the message. Newsletter rows carry neither: the engine reads the
subscriber's current address right before the message, so an erased account or a changed address
never leaves a copy here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import Model

# "claimed": reserved by a worker, not yet handed to SMTP (safe to give to another worker if the
# owner died). "sending": the handover is under way — if the owner died it becomes "uncertain"
# and is never resent on its own. "void": a decoy written by a request for an unknown address
# (same database work as a real message, no address, never sent; see outbox.enqueue_decoy).
# "held": waiting, but no worker takes it (a copy of a paused newsletter issue) until it is
# released back to "pending".
PENDING, CLAIMED, SENDING, SENT = "pending", "claimed", "sending", "sent"
FAILED, UNCERTAIN, SKIPPED, VOID, HELD = "failed", "uncertain", "skipped", "void", "held"
STATUSES = (PENDING, HELD, CLAIMED, SENDING, SENT, FAILED, UNCERTAIN, SKIPPED)
OPEN = (PENDING, HELD, CLAIMED, SENDING)

# Lower goes first: a confirmation link must not wait behind a newsletter of 100 000 copies.
PRIORITY_ACCOUNT = 0
PRIORITY_BULK = 50


class Delivery(Model):
    __tablename__ = "mail_deliveries"
    __table_args__ = (
        # A newsletter issue reaches each subscriber once: the ledger's own guard. Transactional
        # rows have no issue (NULL), and NULLs never collide.
        UniqueConstraint("issue_id", "user_id", name="uq_mail_deliveries_issue_user"),
        Index("ix_mail_deliveries_due", "status", "priority", "next_attempt_at"),
        Index("ix_mail_deliveries_issue_status", "issue_id", "status"),
        Index("ix_mail_deliveries_kind_status", "kind", "status"),
        # An SES notification or a complaint names our Message-ID: found without a full scan.
        Index("ix_mail_deliveries_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(Integer, default=PRIORITY_ACCOUNT)
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The newsletter issue of a newsletter copy (no foreign key: mail does not depend on the
    # newsletter area; issues are never deleted).
    issue_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_addr: Mapped[str | None] = mapped_column(String(320), nullable=True)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    smtputf8: Mapped[bool] = mapped_column(Boolean, default=False)
    # Drop the address as well as the body once sent (the goodbye message of an erased account).
    forget_address: Mapped[bool] = mapped_column(Boolean, default=False)
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # The server's final answer, e.g. "250 2.0.0 Ok: queued as 4Bx..." — its queue id lets an
    # operator reconcile an uncertain delivery with the relay's own log.
    smtp_reply: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # "host:pid:start-time:nonce" of the worker holding the row, and when it last renewed it.
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Temporary failures are retried until then (MAIL_RETRY_FOR after the message was queued).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The relay reported delivery to the recipient's server (an SES Delivery notification).
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
