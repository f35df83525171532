"""The breach register (GDPR Art. 33(5)): every personal-data breach, its 72-hour clock, the decision.

Art. 33(1): the supervisory authority is notified within 72 hours of becoming aware of a breach,
unless it is unlikely to result in a risk to people; either way the facts, the effects and the
decision are documented here. Art. 34: who among the people affected was told, and how.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.db import utcnow, write_transaction
from portal.extensions import db
from portal.privacy import inquiries
from portal.staff import audit_log, deadlines
from portal.staff.models import Breach
from portal.translate import gettext as _

DECISIONS = ("pending", "notify", "no-notify")
MAX_SUMMARY, MAX_TEXT = 200, 20_000


class BreachError(ValueError):
    """Something the staff member can fix; the message is safe to show, ``field`` is what to fix."""

    def __init__(self, message: str, field: str = "summary") -> None:
        super().__init__(message)
        self.field = field


def _text(raw: str, limit: int, what: str, field: str) -> str:
    value = (raw or "").replace("\r\n", "\n").strip()
    if len(value) > limit or "\x00" in value:
        raise BreachError(_("Please keep the %(what)s under %(count)d characters.", what=what, count=limit), field)
    return value


def register(staff: Any, discovered_at: datetime, summary: str, description: str,
             reference: str = "", now: datetime | None = None) -> Breach:
    summary = " ".join(_text(summary, MAX_SUMMARY, _("summary"), "summary").split())
    if not summary:
        raise BreachError(_("Say in a few words what happened."))
    if discovered_at > (now or utcnow()):
        raise BreachError(_("The time of discovery cannot be in the future."), "discovered_at")
    details = _text(description, MAX_TEXT, _("description"), "description")
    inquiry_id = None
    if reference.strip():
        inquiry = inquiries.find(reference)
        if inquiry is None:
            raise BreachError(_("There is no inquiry with that reference."), "reference")
        inquiry_id = inquiry.id
    with write_transaction():
        breach = Breach(recorded_by=staff.email, discovered_at=discovered_at, summary=summary,
                        description=details, inquiry_id=inquiry_id)
        db.session.add(breach)
        db.session.flush()
        audit_log.record(staff, "breach.register", f"breach {breach.id}", summary)
    return breach


def decide(staff: Any, breach_id: int, decision: str, reason: str, notified_at: datetime | None,
           people_informed: str, now: datetime | None = None) -> Breach:
    if decision not in DECISIONS:
        raise BreachError(_("Choose a decision from the list."), "decision")
    reason = _text(reason, MAX_TEXT, _("reason"), "reason")
    if decision != "pending" and not reason:
        raise BreachError(_("Record the reason for the decision."), "reason")
    if decision != "notify" and notified_at is not None:
        raise BreachError(_("A notification time only goes with the decision to notify the authority."), "notified_at")
    if notified_at is not None and notified_at > (now or utcnow()):
        raise BreachError(_("The notification time cannot be in the future."), "notified_at")
    informed = _text(people_informed, MAX_TEXT, _("list of people informed"), "people_informed")
    with write_transaction():
        breach = db.session.get(Breach, breach_id)
        if breach is None:
            raise BreachError(_("There is no such breach in the register."), "decision")
        changed = breach.decision != decision or breach.decision_reason != reason
        breach.decision, breach.decision_reason = decision, reason
        if changed:
            breach.decided_at = utcnow() if decision != "pending" else None
        breach.authority_notified_at = notified_at
        breach.people_informed = informed
        audit_log.record(staff, "breach.decide", f"breach {breach.id}",
                         f"{decision}; notified {notified_at.isoformat() if notified_at else 'no'}")
    return breach


def get(breach_id: int) -> Breach | None:
    return db.session.get(Breach, breach_id)


def register_rows() -> list[Breach]:
    """Undecided first (their clock runs), then the newest."""
    rows = list(db.session.scalars(select(Breach).order_by(Breach.discovered_at.desc(), Breach.id.desc())))
    return sorted(rows, key=lambda b: b.decision != "pending")


def clock(breach: Breach, now: datetime | None = None) -> deadlines.Clock:
    return deadlines.clock(deadlines.breach_due(breach.discovered_at), now or utcnow())


def late_notification(breach: Breach) -> bool:
    """Notified after the 72 hours: Art. 33(1) then wants the reasons for the delay recorded."""
    due = deadlines.breach_due(breach.discovered_at)
    return breach.authority_notified_at is not None and breach.authority_notified_at > due
