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
