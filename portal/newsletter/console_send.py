"""Sending from the console: send now, schedule, the live progress, pause, resume, retry and the
review of uncertain copies. Views on the ``newsletter_console`` blueprint; the work is done by
``issues.start_issue`` (the CLI's own cap and start), ``schedule`` and ``console_ops``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from portal.db import write_transaction
from portal.extensions import db
from portal.inputs import record_id
from portal.mail.models import FAILED, UNCERTAIN
from portal.mfa.reauth import fresh_auth_required
from portal.newsletter import console_ops, issues, schedule
from portal.newsletter.console import bp, issue_or_404, record
from portal.newsletter.console_forms import ActionForm, CapForm, ReviewForm, ScheduleForm
from portal.newsletter.models import Issue
from portal.staff.access import staff_required
from portal.templating import localtime
from portal.translate import gettext as _


def issue_path(issue_id: str) -> str:
    """Where a stale send or schedule returns after /account/confirm: the issue's page."""
    number = record_id(issue_id)
    if number is None:
        return url_for("newsletter_console.index")
    return url_for("newsletter_console.issue_page", issue_id=number)


def _to_issue(issue: Issue) -> ResponseReturnValue:
    return redirect(url_for("newsletter_console.issue_page", issue_id=issue.id))


def _to_progress(issue: Issue) -> ResponseReturnValue:
    return redirect(url_for("newsletter_console.progress_page", issue_id=issue.id))


def cap_message(outlook: schedule.CapOutlook, code: str) -> str:
    """The cap's refusal in the console's words (the CLI's are about its flags)."""
    when = localtime(outlook.next_free)
    if code == "third" or outlook.refused:
        return _("Refused: %(n)d issues have already started or are scheduled in %(month)s, and a third is never "
                 "allowed. The next issue may go out from %(when)s.", n=outlook.taken, month=outlook.month, when=when)
    return _("Refused: %(month)s already has %(n)d issue(s) (the limit is %(limit)d a month). A second one needs "
             "the box ticked and its reason, which is recorded. Otherwise the next issue may go out from %(when)s.",
             month=outlook.month, n=outlook.taken, limit=outlook.limit, when=when)


def _schedule_error(code: str) -> str:
    messages = {
        "started": _("This issue has already started sending."),
        "past": _("That time has passed: choose a time in the future, or send now."),
        "too-far": _("Choose a time within a year."),
        "not-started": _("This issue has not started sending."),
        "paused": _("This issue is already paused."),
        "finished": _("This issue has finished: there is nothing left to pause."),
        "not-paused": _("This issue is not paused."),
    }
    return messages.get(code, _("That cannot be done now."))


@bp.post("/<issue_id>/send")
@staff_required
@fresh_auth_required(back=issue_path)
def send_now(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    form = CapForm(prefix="now")
    if not form.validate_on_submit():
        flash(_("The form expired or a field was too long; please try again."), "error")
        return _to_issue(issue)
    second = bool(form.second_this_month.data)
    reason = (form.reason.data or "").strip() or None
    outlook = schedule.cap_outlook(exclude=issue.id)
    if second and not reason:
        flash(_("A second issue this month needs its reason."), "error")
        return _to_issue(issue)
    try:
        # The CLI's own function: the same cap, lock and frozen recipient list. It commits.
        result = issues.start_issue(issue.id, second, reason)
    except issues.CapError:
        db.session.rollback()
        record("newsletter.send-refused", issue, f"monthly cap; reason given: {reason or '-'}")
        db.session.commit()
        flash(cap_message(outlook, ""), "error")
        return _to_issue(issue)
    except issues.IssueError:
        db.session.rollback()
        record("newsletter.send-refused", issue, "nobody subscribed")
        db.session.commit()
        flash(_("Nobody is subscribed with a confirmed address: the issue was not started."), "error")
        return _to_issue(issue)
    record("newsletter.send", issue, f"slot {result.slot} of {result.month}, {result.recipients} recipients"
           + (f"; second this month: {reason}" if reason else ""))
    db.session.commit()
    if result.started_now:
        flash(_("Sending started: %(n)d recipients. The delivery workers send the copies.", n=result.recipients),
              "success")
    return _to_progress(issue)


def _local_to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))


@bp.post("/<issue_id>/schedule")
@staff_required
@fresh_auth_required(back=issue_path)
def schedule_issue(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    form = ScheduleForm(prefix="at")
    if not form.validate_on_submit() or form.when.data is None:
        flash(_("Please give a date and time, such as 2027-01-05T09:00."), "error")
        return _to_issue(issue)
    when = _local_to_utc(form.when.data)
    second = bool(form.second_this_month.data)
    reason = (form.reason.data or "").strip() or None
    try:
        outlook = schedule.schedule(issue, when, second, reason)
    except schedule.ScheduleError as error:
        db.session.rollback()
        flash(_schedule_error(error.code), "error")
        return _to_issue(issue)
    except issues.CapError as error:
        db.session.rollback()
        record("newsletter.schedule-refused", issue, f"monthly cap for {issues.month_of(when)}")
        db.session.commit()
        flash(cap_message(schedule.cap_outlook(when, exclude=issue.id), error.code), "error")
        return _to_issue(issue)
    record("newsletter.schedule", issue, f"at {when.isoformat()} (month {outlook.month})"
           + (f"; second this month: {reason}" if issue.schedule_second else ""))
    db.session.commit()
    flash(_("Scheduled for %(when)s. The delivery workers start it then.", when=localtime(when)), "success")
    return _to_issue(issue)


@bp.post("/<issue_id>/unschedule")
@staff_required
def unschedule_issue(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        schedule.unschedule(issue)
    except schedule.ScheduleError as error:
        db.session.rollback()
        flash(_schedule_error(error.code), "error")
        return _to_issue(issue)
    record("newsletter.unschedule", issue)
    db.session.commit()
    flash(_("The schedule is cancelled; the issue is a draft again."), "success")
    return _to_issue(issue)


@bp.get("/<issue_id>/progress")
@staff_required
def progress_page(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    if issue.started_at is None:
        return _to_issue(issue)
    figures = console_ops.progress(issue.id)
    return render_template(
        "staff/newsletter/progress.html", issue=issue, state=schedule.state(issue), figures=figures,
        rates=console_ops.rates(issue.id, figures.sent), action=ActionForm(), review=ReviewForm(),
        uncertain=console_ops.copies(issue.id, UNCERTAIN), failed=console_ops.copies(issue.id, FAILED),
    )


@bp.get("/<issue_id>/progress.json")
@staff_required
def progress_json(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    figures = console_ops.progress(issue.id)
    body = figures.as_json()
    body["state"] = schedule.state(issue)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<issue_id>/pause")
@staff_required
def pause(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with write_transaction():  # the pause and its audit entry, committed together
            held = schedule.pause(issue)
            record("newsletter.pause", issue, f"{held} copies held")
    except schedule.ScheduleError as error:
        flash(_schedule_error(error.code), "error")
        return _to_progress(issue)
    flash(_("Paused: %(n)d copies are held until you resume.", n=held), "success")
    return _to_progress(issue)


@bp.post("/<issue_id>/resume")
@staff_required
def resume(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with write_transaction():
            released = schedule.resume(issue)
            record("newsletter.resume", issue, f"{released} copies released")
    except schedule.ScheduleError as error:
        flash(_schedule_error(error.code), "error")
        return _to_progress(issue)
    flash(_("Resumed: %(n)d copies are back in the queue.", n=released), "success")
    return _to_progress(issue)


@bp.post("/<issue_id>/retry")
@staff_required
def retry_failed(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    if not ActionForm().validate_on_submit() or issue.started_at is None:
        abort(400)
    count = console_ops.retry_failed(issue.id)
    record("newsletter.retry", issue, f"{count} failed copies re-queued")
    db.session.commit()
    flash(_("%(n)d failed copies are queued again.", n=count), "success")
    return _to_progress(issue)


@bp.post("/<issue_id>/review")
@staff_required
def review(issue_id: str) -> ResponseReturnValue:
    issue = issue_or_404(issue_id)
    form = ReviewForm()
    delivery_id = record_id(form.delivery.data)
    if not form.validate_on_submit() or delivery_id is None:
        flash(_("Please choose what happened to the copy."), "error")
        return _to_progress(issue)
    copy = console_ops.copy_of(issue.id, delivery_id, UNCERTAIN)
    if form.decision.data == "delivered":
        done = console_ops.mark_delivered(issue.id, delivery_id)
    else:
        done = console_ops.resend(issue.id, delivery_id)
    if not done or copy is None:
        db.session.rollback()
        flash(_("That copy is no longer uncertain (someone else reviewed it)."), "error")
        return _to_progress(issue)
    # The delivery's id, not the address: the audit log outlives the subscriber's erasure.
    record(f"newsletter.uncertain-{form.decision.data}", issue, f"delivery {delivery_id}")
    db.session.commit()
    flash(_("Recorded for %(email)s.", email=copy.email), "success")
    return _to_progress(issue)
