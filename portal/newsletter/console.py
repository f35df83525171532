"""The console's newsletter pages under ``/staff/newsletter``: the issues, compose and preview.

Sending, scheduling and the progress view are in ``console_send``; both add their views to this
blueprint. Every view is staff-only (404 to anyone else) and every change is a POST with its
CSRF token, written to the staff audit log in the transaction of the change.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from portal.db import utcnow
from portal.extensions import csrf, db
from portal.inputs import record_id
from portal.links import external_url
from portal.newsletter import console_ops, issues, render, schedule
from portal.newsletter.console_forms import ActionForm, CapForm, ComposeForm, PreviewForm, ScheduleForm
from portal.newsletter.models import Issue
from portal.security.headers import allow_source
from portal.staff import audit_log
from portal.staff.access import staff_required

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


@bp.get("")
@staff_required
def index() -> str:
    all_issues = list(db.session.scalars(db.select(Issue).order_by(Issue.created_at.desc(), Issue.id.desc())))
    return render_template("staff/newsletter/index.html", issues=all_issues, state=schedule.state,
                           outlook=schedule.cap_outlook())


def _compose_page(form: ComposeForm, issue: Issue | None, status: int = 200) -> ResponseReturnValue:
    allow_source("frame-src", "'self'")  # the preview frame, served by the portal itself
    return render_template("staff/newsletter/compose.html", form=form, issue=issue,
                           page_errors=bool(form.errors)), status


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def compose() -> ResponseReturnValue:
    form = ComposeForm()
    if form.validate_on_submit():
        try:
            issue = issues.create_issue(form.subject.data or "", form.body.data or "")
        except issues.IssueError:
            form.body.errors = [_("The issue could not be saved: check the subject and the body.")]
            return _compose_page(form, None, 400)
        record("newsletter.create", issue, issue.subject)
        db.session.commit()
        flash(_("Draft saved."), "success")
        return redirect(url_for("newsletter_console.issue_page", issue_id=issue.id))
    return _compose_page(form, None, 400 if form.is_submitted() else 200)


@bp.route("/<issue_id>/edit", methods=["GET", "POST"])
@staff_required
def edit(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    if issue.started_at is not None:
        flash(_("This issue has started sending; it can no longer be changed."), "error")
        return redirect(url_for("newsletter_console.issue_page", issue_id=issue.id))
    form = ComposeForm()
    if not form.is_submitted():
        form.subject.data, form.body.data = issue.subject, issue.body_markdown
    if form.validate_on_submit():
        issue.subject = (form.subject.data or "").strip()
        issue.body_markdown = form.body.data or ""
        record("newsletter.edit", issue, issue.subject)
        db.session.commit()
        flash(_("Draft saved."), "success")
        return redirect(url_for("newsletter_console.issue_page", issue_id=issue.id))
    return _compose_page(form, issue, 400 if form.is_submitted() else 200)


def _frame(subject: str, body: str) -> ResponseReturnValue:
    """The email's own HTML, as the preview frame's document. Its inline style attributes are
    what mail clients need; this one response allows them (and being framed by the portal)."""
    rendered = render.render_issue(subject, body)
    html = rendered.html.replace(render.UNSUBSCRIBE_PLACEHOLDER, external_url("newsletter.preferences"))
    allow_source("style-src-attr", "'unsafe-inline'")
    allow_source("frame-ancestors", "'self'")
    response = make_response(html)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.route("/preview", methods=["GET", "POST"])
@staff_required
def preview() -> ResponseReturnValue:
    """POST: the draft as typed (the compose form's Preview button targets the frame; the
    script posts here as you type). GET: an empty preview."""
    form = PreviewForm()
    if not form.is_submitted():
        return _frame(_("Preview"), "")
    if not form.validate():
        return _("The preview could not be made (the form expired, or the text is too long): reload the page."), 400
    return _frame(form.subject.data or "", form.body.data or "")


@bp.get("/<issue_id>/preview")
@staff_required
def saved_preview(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    return _frame(issue.subject, issue.body_markdown)


@bp.get("/<issue_id>")
@staff_required
def issue_page(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    allow_source("frame-src", "'self'")
    now = utcnow()
    return render_template(
        "staff/newsletter/issue.html", issue=issue, state=schedule.state(issue),
        outlook_now=schedule.cap_outlook(now, exclude=issue.id),
        outlook_scheduled=schedule.cap_outlook(issue.scheduled_at, exclude=issue.id) if issue.scheduled_at else None,
        send_form=CapForm(prefix="now"), schedule_form=ScheduleForm(prefix="at"), action=ActionForm(),
        progress=console_ops.progress(issue.id) if issue.started_at else None,
    )


@bp.post("/<issue_id>/test")
@staff_required
def test_copy(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    console_ops.queue_test_copy(issue, current_user)
    record("newsletter.test-send", issue, current_user.email)
    db.session.commit()
    flash(_("A test copy is on its way to %(email)s. It does not start the issue and does not count for the "
            "monthly cap.", email=current_user.email), "success")
    return redirect(url_for("newsletter_console.issue_page", issue_id=issue.id))


def init_app(app: Flask) -> None:
    from portal.mail.worker import add_tick
    from portal.newsletter import console_send, console_stats  # noqa: F401 - they add their views to bp

    app.register_blueprint(bp)
    add_tick(app, schedule.tick)
