"""The data-protection desk's pages: inquiries by deadline, one case, and its actions."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms import SelectChoice

from portal.accounts.requestinfo import this_client
from portal.db import utcnow
from portal.inputs import record_id
from portal.mfa.reauth import fresh_auth_required
from portal.privacy import rights
from portal.staff import casework, deadlines, desk
from portal.staff.access import staff_required
from portal.staff.casework import CaseworkError
from portal.staff.desk import DeskError
from portal.staff.forms import CaseForm, EraseForm, ExtendForm, PostForm, ReplyForm
from portal.translate import gettext as _

bp = Blueprint("staff_desk", __name__, url_prefix="/staff/desk")


@bp.get("")
@staff_required
def inquiries() -> str:
    now = utcnow()
    rows = [(i, f, deadlines.clock(i.due_at, now)) for i, f in desk.open_cases()]
    staff_emails = {u.id: u.email for u in desk.staff_accounts()}
    return render_template("staff/desk.html", section="desk", rows=rows, answered=desk.recent_answered(),
                           staff_emails=staff_emails)


def _case_or_404(reference: str) -> desk.Case:
    case = desk.load(reference)
    if case is None:
        abort(404)
    return case


def _assignee_choices() -> list[SelectChoice]:
    return [SelectChoice("", _("Nobody"))] + [SelectChoice(str(u.id), u.email) for u in desk.staff_accounts()]


def _forms(case: desk.Case) -> dict[str, object]:
    staff_choices = _assignee_choices()
    case_form = CaseForm(formdata=None, assignee=str(case.file.assignee_id or "") if case.file else "",
                         notes=case.file.notes if case.file else "")
    case_form.assignee.choices = staff_choices
    reply_form = ReplyForm(formdata=None, subject=_("Re: your data-protection inquiry %(reference)s",
                                                     reference=case.inquiry.reference))
    return {"case_form": case_form, "extend_form": ExtendForm(formdata=None), "reply_form": reply_form,
            "erase_form": EraseForm(formdata=None), "post_form": PostForm(formdata=None)}


def _render_case(case: desk.Case, status: int = 200, **forms: object) -> ResponseReturnValue:
    context = _forms(case)
    context.update(forms)
    now = utcnow()
    return render_template(
        "staff/case.html", section="desk", case=case, clock=deadlines.clock(case.inquiry.due_at, now),
        account=desk.linked_account(case.inquiry), statuses={r.id: desk.delivery_status(r) for r in case.replies},
        page_errors=status >= 400, **context,
    ), status


@bp.get("/<reference>")
@staff_required
def case(reference: str) -> ResponseReturnValue:
    return _render_case(_case_or_404(reference))


def _back(reference: str) -> ResponseReturnValue:
    return redirect(url_for("staff_desk.case", reference=reference), 303)


@bp.post("/<reference>/case")
@staff_required
def update_case(reference: str) -> ResponseReturnValue:
    found = _case_or_404(reference)
    form = CaseForm()
    form.assignee.choices = _assignee_choices()
    if form.validate_on_submit():
        raw = form.assignee.data or ""
        assignee = record_id(raw) if raw else None
        try:
            if raw and assignee is None:
                raise DeskError(_("Choose the assignee from the list of staff accounts."))
            desk.update_case(current_user, found.inquiry.reference, assignee, form.notes.data or "")
        except DeskError as error:
            form.assignee.errors = [str(error)]
        else:
            flash(_("The case is saved."), "success")
            return _back(found.inquiry.reference)
    return _render_case(found, 400, case_form=form)


@bp.post("/<reference>/extend")
@staff_required
def extend(reference: str) -> ResponseReturnValue:
    found = _case_or_404(reference)
    form = ExtendForm()
    if form.validate_on_submit():
        try:
            desk.extend(current_user, found.inquiry.reference, int(form.months.data), form.reason.data)
        except DeskError as error:
            form.reason.errors = [str(error)]
        else:
            flash(_("The deadline is extended and the sender is told why."), "success")
            return _back(found.inquiry.reference)
    return _render_case(found, 400, extend_form=form)


@bp.post("/<reference>/reply")
@staff_required
def reply(reference: str) -> ResponseReturnValue:
    found = _case_or_404(reference)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            desk.reply(current_user, found.inquiry.reference, form.subject.data, form.body.data,
                       mark_answered=bool(form.answered.data) and found.inquiry.is_open)
        except DeskError as error:
            form.body.errors = [str(error)]
        else:
            flash(_("The reply is queued for delivery and kept with the case."), "success")
            return _back(found.inquiry.reference)
    return _render_case(found, 400, reply_form=form)


@bp.post("/<reference>/answered")
@staff_required
def answered(reference: str) -> ResponseReturnValue:
    found = _case_or_404(reference)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        desk.answer(current_user, found.inquiry.reference)
    except DeskError as error:
        flash(str(error), "error")
    else:
        flash(_("%(reference)s is marked answered.", reference=found.inquiry.reference), "success")
    return _back(found.inquiry.reference)


@bp.post("/<reference>/export")
@staff_required
def export(reference: str) -> ResponseReturnValue:
    found = _case_or_404(reference)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        document = casework.export(current_user, found.inquiry.reference)
    except CaseworkError as error:
        flash(str(error), "error")
        return _back(found.inquiry.reference)
    response = Response(document, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{rights.export_filename()}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _case_path(reference: str) -> str:
    """Where a stale erasure returns after /account/confirm: the case's page."""
    return url_for("staff_desk.case", reference=reference)


@bp.post("/<reference>/erase")
@staff_required
# The form's own password field is the re-authentication when it is filled in (casework.erase).
@fresh_auth_required(own_check="password", back=_case_path)
def erase(reference: str) -> ResponseReturnValue:
    found = _case_or_404(reference)
    form = EraseForm()
    if form.validate_on_submit():
        try:
            casework.erase(current_user, found.inquiry.reference, form.password.data, this_client().ip)
        except CaseworkError as error:
            form.password.errors = [str(error)]
        else:
            flash(_("The person's account and data are erased; a confirmation is on its way to them."), "success")
            return _back(found.inquiry.reference)
    return _render_case(found, 400, erase_form=form)
