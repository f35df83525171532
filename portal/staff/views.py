"""The console's front page: what needs attention, and where each part of the console lives."""

from __future__ import annotations

from flask import Blueprint, render_template

from portal.db import utcnow
from portal.privacy import inquiries
from portal.staff import audit_log, breaches
from portal.staff.access import staff_required

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("")
@staff_required
def index() -> str:
    now = utcnow()
    running = [(b, breaches.clock(b, now)) for b in breaches.register_rows()
               if b.decision == "pending" and b.authority_notified_at is None]
    return render_template("staff/index.html", recent=audit_log.recent(10), open_count=inquiries.open_count(),
                           overdue_count=inquiries.overdue_count(now), running=running)
