"""The console's share of a person's export and erasure.

Export: every staff look at the account (the access log), the replies sent to their inquiries and
the desk's notes on them, and — for a staff member — the actions they took. Erasure: the access
log goes; closed cases' replies and notes are blanked (open ones when answered); a staff
member's own audit entries stay, unlinked by the database, as the record of what was done.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.staff import access_log, desk
from portal.staff.models import StaffAction


def export(user: Any) -> dict[str, Any]:
    document = access_log.export(user)
    document.update(desk.export_for(user))
    actions = db.session.scalars(select(StaffAction).where(StaffAction.staff_id == user.id)
                                 .order_by(StaffAction.id)).all()
    if actions:
        document["staff_actions_taken"] = [
            {"at": a.at.isoformat(), "action": a.action, "subject": a.subject} for a in actions
        ]
    return document


def erase(user: Any) -> None:
    access_log.erase(user)
    desk.erase_for(user)
    db.session.flush()
