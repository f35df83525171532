"""The console's front page: where each part of it lives."""

from __future__ import annotations

from flask import Blueprint, render_template

from portal.staff import audit_log
from portal.staff.access import staff_required

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("")
@staff_required
def index() -> str:
    return render_template("staff/index.html", recent=audit_log.recent(10))
