"""One-click rights for a case: export the person's data, erase the person.

Both go through the self-service functions (``portal.privacy.rights``); the look is logged in the
person's access log (the export shows it) and in the staff audit log.
"""

from __future__ import annotations

from typing import Any

from portal.accounts.models import User
from portal.db import write_transaction
from portal.privacy import rights
from portal.staff import audit_log, desk, people, reauth
from portal.translate import gettext as _


class CaseworkError(ValueError):
    """Something the staff member can fix; the message is safe to show."""


def _account(reference: str) -> tuple[desk.Case, User]:
    case = desk.load(reference)
    if case is None:
        raise CaseworkError(_("There is no inquiry with that reference."))
    user = desk.linked_account(case.inquiry)
    if user is None:
        raise CaseworkError(_("No account is linked to this inquiry."))
    return case, user


def export(staff: Any, reference: str) -> str:
    """The person's export document (JSON), with this look already in its access log."""
    case, user = _account(reference)
    with write_transaction():
        people.look_at(staff, user, _("inquiry %(reference)s", reference=case.inquiry.reference), "export")
    return rights.export_json(user)


def erase(staff: Any, reference: str, password: object, ip: str) -> str:
    """Erase the person behind the case, once the staff member's password is confirmed
    (``ip``: the staff member's, for the password throttle)."""
    if not reauth.password_confirmed(staff, password, ip):
        raise CaseworkError(_("Your password is not correct."))
    case, user = _account(reference)
    if user.id == staff.id:
        raise CaseworkError(_("You cannot erase your own account from the console."))
    inquiry_reference, user_id = case.inquiry.reference, user.id

    def audit() -> None:
        audit_log.record(staff, "person.erase", f"account {user_id}", f"inquiry {inquiry_reference}")

    return rights.erase_and_confirm(user, before_commit=audit)
