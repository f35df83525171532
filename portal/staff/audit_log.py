"""Writing to and reading the staff audit log. There is no update or delete here, on purpose.

The ORM refuses to change or delete an entry, row by row or in bulk, whoever asks. The one
exception is the erasure of a staff account (``erase``): its entries stay, as the record of what
was done, with "erased account N" instead of the address.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from portal.extensions import db
from portal.staff.models import StaffAction

PAGE = 50
# The one change the log allows: an erased staff member's address replaced by "erased account N".
ERASURE = "portal_staff_audit_erasure"


class AppendOnly(RuntimeError):
    """Something tried to change or delete a staff audit-log entry."""


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
        .values(staff_id=None, staff_email=f"erased account {user.id}"),
        execution_options={ERASURE: True},
    )


def page(before: int | None = None, size: int = PAGE) -> list[StaffAction]:
    """Newest first; ``before`` continues from an entry id (keyset paging: stable while it grows)."""
    statement = select(StaffAction).order_by(StaffAction.id.desc()).limit(size)
    if before is not None:
        statement = statement.where(StaffAction.id < before)
    return list(db.session.scalars(statement))


@event.listens_for(StaffAction, "before_update")
def _refuse_update(mapper: Any, connection: Any, target: StaffAction) -> None:
    raise AppendOnly("the staff audit log cannot be changed")


@event.listens_for(StaffAction, "before_delete")
def _refuse_delete(mapper: Any, connection: Any, target: StaffAction) -> None:
    raise AppendOnly("the staff audit log cannot be deleted from")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) == StaffAction.__tablename__ and not state.execution_options.get(ERASURE):
        raise AppendOnly("the staff audit log cannot be changed")
