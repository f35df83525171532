"""The log of staff looks at a person's data: who, when, why, what. The person's export shows it.

Registered with ``portal.personal_data``: exported as "staff_access_log" and deleted with the
person. The staff audit log keeps its own entry of each look ("person.lookup", the account id,
never the address or the reason), so after an erasure only that a look happened remains.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from portal.db import utcnow
from portal.extensions import db
from portal.staff.models import StaffAccess

# How long one look (with its reason) covers the person's page and the actions taken from it.
LOOK_LASTS = timedelta(minutes=15)
VIEWED = ("account", "export", "erasure")


def record(staff: Any, user: Any, reason: str, viewed: str) -> StaffAccess:
    """Add one entry in the caller's transaction."""
    if viewed not in VIEWED:
        raise ValueError(f"unknown kind of look {viewed!r}")
    entry = StaffAccess(user_id=user.id, staff_id=staff.id, staff_email=staff.email, reason=reason[:300],
                        viewed=viewed)
    db.session.add(entry)
    return entry


def live_look(staff: Any, access_id: int, now: datetime | None = None) -> StaffAccess | None:
    """The look ``access_id`` if it is this staff member's own and still within LOOK_LASTS."""
    entry = db.session.get(StaffAccess, access_id)
    if entry is None or entry.staff_id != staff.id or entry.viewed != "account":
        return None
    if entry.at + LOOK_LASTS < (now or utcnow()):
        return None
    return entry


def of_user(user: Any) -> list[StaffAccess]:
    return list(db.session.scalars(select(StaffAccess).where(StaffAccess.user_id == user.id)
                                   .order_by(StaffAccess.at, StaffAccess.id)))


def export(user: Any) -> dict[str, Any]:
    return {
        "staff_access_log": [
            {"at": e.at.isoformat(), "staff": e.staff_email, "reason": e.reason, "viewed": e.viewed}
            for e in of_user(user)
        ]
    }


def erase(user: Any) -> None:
    db.session.execute(delete(StaffAccess).where(StaffAccess.user_id == user.id))
    # Looks this person made as staff stay in the others' logs, like the audit log, without the address.
    db.session.execute(update(StaffAccess).where(StaffAccess.staff_id == user.id)
                       .values(staff_id=None, staff_email=f"erased account {user.id}"))
