"""Writing to and reading the staff audit log. There is no update or delete here, on purpose."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from portal.extensions import db
from portal.staff.models import StaffAction


def record(staff: Any, action: str, subject: str = "", detail: str = "") -> StaffAction:
    """Add one entry in the caller's transaction (commit with the change it describes)."""
    entry = StaffAction(
        staff_id=staff.id, staff_email=staff.email, action=action, subject=subject[:200], detail=detail
    )
    db.session.add(entry)
    return entry


def recent(limit: int = 50) -> list[StaffAction]:
    return list(db.session.scalars(select(StaffAction).order_by(StaffAction.id.desc()).limit(limit)))


def export(user: Any) -> dict[str, Any]:
    rows = db.session.scalars(select(StaffAction).where(StaffAction.staff_id == user.id).order_by(StaffAction.id))
    return {"staff_actions": [
        {"at": row.at.isoformat(), "action": row.action, "subject": row.subject, "detail": row.detail} for row in rows
    ]}


def erase(user: Any) -> None:
    # The log keeps what was done (it is the operator's proof) but no longer who the person was.
    db.session.execute(
        update(StaffAction).where(StaffAction.staff_id == user.id)
        .values(staff_id=None, staff_email=f"erased account {user.id}")
    )
