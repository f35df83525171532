"""Read-only console pages: the staff audit log, the policy audit and retention, consent statistics."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from portal.inputs import record_id
from portal.staff import audit_log, health, stats
from portal.staff.access import staff_required

bp = Blueprint("staff_reports", __name__, url_prefix="/staff")


@bp.get("/audit-log")
@staff_required
def audit_log_page() -> ResponseReturnValue:
    raw = request.args.get("before")
    before = record_id(raw) if raw else None
    entries = audit_log.page(before)
    more = entries[-1].id if len(entries) == audit_log.PAGE else None
    return render_template("staff/audit_log.html", section="audit-log", entries=entries, more=more)


@bp.get("/health")
@staff_required
def health_page() -> ResponseReturnValue:
    results = health.audit_results()
    return render_template("staff/health.html", section="health", results=results,
                           failures=sum(1 for r in results if not r.ok), runs=health.purge_runs())


@bp.get("/consent")
@staff_required
def consent_page() -> ResponseReturnValue:
    revisions = stats.by_revision()
    return render_template("staff/consent.html", section="consent", revisions=revisions,
                           weeks=stats.by_week(), total=stats.totals(revisions))
