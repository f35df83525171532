"""Proof of consent: every decision, and exactly what was shown when it was made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime, utcnow
from portal.extensions import Model


class ConsentSnapshot(Model):
    """The texts behind one registry revision: banner, cookie list and privacy policy.

    Keyed by a digest of all three, so a reworded banner under the same registry gets its own
    row and "what was shown" stays provable for every decision.
    """

    __tablename__ = "consent_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    revision: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    banner_text: Mapped[str] = mapped_column(Text)
    registry_json: Mapped[str] = mapped_column(Text)  # services, cookies, categories as shown
    policy_name: Mapped[str] = mapped_column(String(120))
    policy_text: Mapped[str] = mapped_column(Text)
    # The same revision is shown in every language; each language's words are their own proof.
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")


class ConsentRecord(Model):
    """One decision. No IP address, no user agent: the consent id ties it to the browser's cookie."""

    __tablename__ = "consent_records"
    __table_args__ = (
        Index("ix_consent_records_consent_id_at", "consent_id", "decided_at"),
        Index("ix_consent_records_user_id_decided_at", "user_id", "decided_at", "id"),  # the account's choices
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consent_id: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the decision stops counting (CONSENT_MAX_AGE_DAYS later); retention counts from here.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    action: Mapped[str] = mapped_column(String(16))  # accept_all | reject_all | save
    granted: Mapped[str] = mapped_column(String(200), default="")  # comma-separated categories
    refused: Mapped[str] = mapped_column(String(200), default="")
    revision: Mapped[str] = mapped_column(String(16))
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("consent_snapshots.id"), index=True)
    # Whether the decision came through the script or a plain form post (it shows what was seen).
    via: Mapped[str] = mapped_column(String(8), default="form")
    # The language the person saw the banner and policy in (the snapshot holds those words).
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )

    snapshot: Mapped[ConsentSnapshot] = relationship()

    @property
    def granted_list(self) -> list[str]:
        return [c for c in self.granted.split(",") if c]

    @property
    def refused_list(self) -> list[str]:
        return [c for c in self.refused.split(",") if c]
