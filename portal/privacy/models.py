"""Data-protection inquiries and violation reports (GDPR Art. 12(3): an answer within a month)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import Model
from portal.translate import lazy_gettext as _l

TOPICS: dict[str, Any] = {
    "access": _l("Access to my data"),
    "erasure": _l("Erasure of my data"),
    "rectification": _l("Correction of my data"),
    "objection": _l("Objection to processing"),
    "breach": _l("Report a data breach or violation"),
    "other": _l("Something else"),
}


class Inquiry(Model):
    __tablename__ = "privacy_inquiries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What the sender quotes back to us; random so it reveals nothing about volume.
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    topic: Mapped[str] = mapped_column(String(16))
    # Contact address and message: dropped (NULL / "") once the case is closed for a person
    # who erased their account; the case itself stays as proof it was handled.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    email_key: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    # The account of a logged-in sender, so their export includes it even after an email change.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # False when DPO_EMAIL was unset or the mail failed: the audit flags these.
    dpo_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    # The sender erased their account while the case was open: redact it when it closes.
    redact_on_close: Mapped[bool] = mapped_column(Boolean, default=False)
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def topic_label(self) -> str:
        return str(TOPICS.get(self.topic, self.topic))

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def __repr__(self) -> str:  # never the address: reprs end up in logs
        return f"<Inquiry {self.reference}>"
