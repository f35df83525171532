"""The console's newsletter statistics: subscribers per week, and bounce and complaint rates per
issue. Aggregates only: no list of people."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from portal.extensions import db
from portal.newsletter import console_ops
from portal.newsletter.console import bp
from portal.newsletter.models import Issue
from portal.staff.access import staff_required

RECENT_ISSUES = 12


@bp.get("/statistics")
@staff_required
def statistics() -> str:
    started = list(db.session.scalars(
        select(Issue).where(Issue.started_at.is_not(None)).order_by(Issue.started_at.desc()).limit(RECENT_ISSUES)
    ))
    rates = [(issue, console_ops.rates(issue.id, console_ops.progress(issue.id).sent)) for issue in started]
    return render_template("staff/newsletter/statistics.html", weeks=console_ops.subscriber_weeks(), rates=rates,
                           bounce_limit=console_ops.BOUNCE_RATE_LIMIT,
                           complaint_limit=console_ops.COMPLAINT_RATE_LIMIT)
