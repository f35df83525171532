"""The console's newsletter blueprint under ``/staff/newsletter`` and what its views share.

The views live in ``console_pages`` (issues, compose, preview, test copy), ``console_send``
(send, schedule, progress, pause) and ``console_stats``. Every view is staff-only (404 to anyone
else) and every change is a POST with its CSRF token, written to the staff audit log in the
transaction of the change.
"""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

from portal.extensions import csrf, db
from portal.inputs import record_id
from portal.newsletter.models import Issue
from portal.staff import audit_log

bp = Blueprint("newsletter_console", __name__, url_prefix="/staff/newsletter")
# The app-wide CSRF check runs before any view and would answer a stranger's POST with 400,
# telling them the page exists: here every form checks its own token (Flask-WTF's FlaskForm,
# validate_on_submit) after staff_required has answered 404 to anyone else.
csrf.exempt(bp)


def issue_or_404(raw: str) -> Issue:
    number = record_id(raw)
    issue = db.session.get(Issue, number) if number is not None else None
    if issue is None:
        abort(404)
    return issue


def record(action: str, issue: Issue | None, detail: str = "") -> None:
    audit_log.record(current_user, action, f"issue {issue.id}" if issue is not None else "", detail)


