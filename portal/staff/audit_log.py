"""Writing to and reading the staff audit log. There is no update or delete here, on purpose.

The ORM refuses to change or delete an entry, row by row or in bulk, whoever asks; the only
change the database itself makes is ``staff_id`` set to NULL when a staff account is erased
(the address the entry was written with stays: an audit log its subject can erase is none).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from portal.extensions import db
from portal.staff.models import StaffAction

PAGE = 50


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
    if getattr(table, "name", None) == StaffAction.__tablename__:
        raise AppendOnly("the staff audit log cannot be changed")
