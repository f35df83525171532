"""The console's mail page under ``/staff/mail``: the delivery engine's figures (the numbers of
``flask mail status``), the failed and uncertain messages, and re-queueing them.

Staff see a message's kind, recipient address and what the server said — never its body."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice

from portal.extensions import csrf, db
from portal.mail import status as queue
from portal.mail.models import FAILED, UNCERTAIN
from portal.staff import audit_log
from portal.staff.access import staff_required
from portal.translate import gettext as _
from portal.translate import lazy_gettext as _l

bp = Blueprint("mail_console", __name__, url_prefix="/staff/mail")
# The app-wide CSRF check runs before any view and would answer a stranger's POST with 400,
# telling them the page exists: here every form checks its own token (Flask-WTF's FlaskForm,
# validate_on_submit) after staff_required has answered 404 to anyone else.
csrf.exempt(bp)


class RetryForm(FlaskForm):
    which = RadioField(_l("Queue again"), choices=[
        SelectChoice("failed", _l("Failed messages")),
        SelectChoice("uncertain", _l("Uncertain messages (they may have arrived: a recipient may get a second copy)")),
    ])


@bp.get("")
@staff_required
def page() -> str:
    return render_template("staff/mail.html", figures=queue.figures(), problems=queue.problems(limit=100),
                           form=RetryForm(which="failed"))


@bp.post("/retry")
@staff_required
def retry() -> ResponseReturnValue:
    form = RetryForm()
    if not form.validate_on_submit():
        abort(400)
    statuses = (FAILED,) if form.which.data == "failed" else (UNCERTAIN,)
    count = queue.requeue(statuses)
    audit_log.record(current_user, "mail.retry", statuses[0], f"{count} message(s) re-queued")
    db.session.commit()
    flash(_("%(n)d message(s) queued again.", n=count), "success")
    return redirect(url_for("mail_console.page"))
