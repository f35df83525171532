"""The console's issue pages: the list, compose and edit, the preview frame and the test copy."""

from __future__ import annotations

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import update

from portal.db import affected, utcnow
from portal.extensions import db
from portal.i18n import language_name
from portal.links import external_url
from portal.newsletter import console_ops, issues, languages, render, schedule
from portal.newsletter.console import bp, issue_or_404, record
from portal.newsletter.console_forms import (
    ActionForm,
    CapForm,
    ScheduleForm,
    compose_form,
    language_errors,
    other_languages,
    preview_form,
    texts_of,
)
from portal.newsletter.models import Issue
from portal.security.headers import allow_source
from portal.staff.access import staff_required
from portal.translate import gettext as _


@bp.get("")
@staff_required
def index() -> str:
    all_issues = list(db.session.scalars(db.select(Issue).order_by(Issue.created_at.desc(), Issue.id.desc())))
    return render_template("staff/newsletter/index.html", issues=all_issues, state=schedule.state,
                           outlook=schedule.cap_outlook())


def _language_names() -> dict[str, str]:
    return {code: language_name(code) for code in current_app.config["LANGUAGES"]}


def _compose_page(form: FlaskForm, issue: Issue | None, status: int = 200) -> ResponseReturnValue:
    allow_source("frame-src", "'self'")  # the preview frame, served by the portal itself
    return render_template("staff/newsletter/compose.html", form=form, issue=issue,
                           other_languages=other_languages(), language_names=_language_names(),
                           page_errors=bool(form.errors)), status


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def compose() -> ResponseReturnValue:
    form = compose_form()
    if form.validate_on_submit() and not language_errors(form):
        try:
            # The CLI's own function: the default text on the issue, the others as its texts.
            issue = issues.create_issue(form.subject.data or "", form.body.data or "", texts_of(form))
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
    form = compose_form()
    if not form.is_submitted():
        form.subject.data, form.body.data = issue.subject, issue.body_markdown
        for code, (subject, body) in languages.texts_of(issue).items():
            if code in other_languages():
                form[f"subject_{code}"].data, form[f"body_{code}"].data = subject, body
    if form.validate_on_submit() and not language_errors(form):
        subject = (form.subject.data or "").strip()
        # Only while not started: a start in the meantime (the scheduler) wins, and its copies
        # are built from the text it started with.
        changed = affected(db.session.execute(
            update(Issue).where(Issue.id == issue.id, Issue.started_at.is_(None))
            .values(subject=subject, body_markdown=form.body.data or "")
        ))
        if not changed:
            db.session.rollback()
            flash(_("This issue has started sending; it can no longer be changed."), "error")
            return redirect(url_for("newsletter_console.issue_page", issue_id=issue.id))
        texts = texts_of(form)
        languages.add_texts(issue, texts)
        languages.remove_texts(issue, [code for code in other_languages() if code not in texts])
        record("newsletter.edit", issue, subject)
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
    form = preview_form()
    if not form.is_submitted():
        return _frame(_("Preview"), "")
    if not form.validate():
        return _("The preview could not be made (the form expired, or the text is too long): reload the page."), 400
    chosen = form["preview_language"].data
    if chosen in other_languages():
        # The chosen language's text as typed, or the default's where it has none yet (as sent).
        subject = (form[f"subject_{chosen}"].data or "").strip()
        body = form[f"body_{chosen}"].data or ""
        if subject or body.strip():
            return _frame(subject, body)
    return _frame(form.subject.data or "", form.body.data or "")


@bp.get("/<issue_id>/preview")
@staff_required
def saved_preview(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    # ?lang=cs: that language's copy, or the default's where the issue has none (what it sends).
    lang = request.args.get("lang", "")
    return _frame(*languages.text_for(issue, lang if lang in other_languages() else None))


def refusal_at_start(code: str) -> str:
    """Why a scheduled issue did not start when its time came, from the code the scheduler stored
    (older rows hold the CLI's English sentence: shown as it is)."""
    messages = {
        "third": _("Two issues had already started that month, and a third is never allowed."),
        "limit": _("The monthly limit was already reached, and the issue was not scheduled as a second one "
                   "with a reason."),
        "reason": _("A second issue in a month needs its reason, and none was recorded."),
        "nobody": _("Nobody was subscribed with a confirmed address."),
        "missing": _("The issue no longer exists."),
    }
    return messages.get(code, code)


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
        issue_languages=languages.languages_of(issue), language_names=_language_names(),
        preview_language=request.args.get("lang", ""),
        refusal=refusal_at_start(issue.schedule_error) if issue.schedule_error else "",
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
