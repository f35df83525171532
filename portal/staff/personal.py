"""The console's share of a person's export and erasure.

Export: every staff look at the account (the access log), the replies sent to their inquiries and
the desk's notes on them (a staff member's own actions are the audit log's share). Erasure: the
access log goes; closed cases' replies and notes are blanked (open ones when answered); the looks
an erased staff member made stay in the looked-at people's logs as "erased account N".
"""

from __future__ import annotations

from typing import Any

from portal.extensions import db
from portal.staff import access_log, desk


def export(user: Any) -> dict[str, Any]:
    document = access_log.export(user)
    document.update(desk.export_for(user))
    return document


def erase(user: Any) -> None:
    access_log.erase(user)
    desk.erase_for(user)
    db.session.flush()
