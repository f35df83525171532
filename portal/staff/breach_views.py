"""The breach register's pages: the list with each 72-hour clock, a new entry, one breach."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.db import utcnow
from portal.inputs import record_id
from portal.staff import breaches
from portal.staff.access import staff_required
from portal.staff.breaches import BreachError
from portal.staff.forms import BreachForm, DecisionForm, local_time
from portal.staff.models import Breach
from portal.templating import localtime
from portal.translate import gettext as _

bp = Blueprint("staff_breaches", __name__, url_prefix="/staff/breaches")
TIME_HINT = "2026-12-01 14:30"


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _list(form: BreachForm, status: int = 200) -> ResponseReturnValue:
    now = utcnow()
    rows = [(b, breaches.clock(b, now)) for b in breaches.register_rows()]
    return render_template("staff/breaches.html", section="breaches", rows=rows, form=form,
                           time_hint=TIME_HINT, page_errors=status >= 400), status


@bp.get("")
@staff_required
def register() -> ResponseReturnValue:
    # "Record in the breach register" on a violation report's case brings its reference along.
    reference = request.args.get("reference", "")
    return _list(BreachForm(formdata=None, reference=reference[:24] if isinstance(reference, str) else ""))


@bp.post("")
@staff_required
def add() -> ResponseReturnValue:
    form = BreachForm()
    if form.validate_on_submit():
        discovered = local_time(form.discovered_at.data, _zone())
        if discovered is None:
            form.discovered_at.errors = [_("Write the time like %(example)s.", example=TIME_HINT)]
        else:
            try:
                breach = breaches.register(current_user, discovered, form.summary.data, form.description.data or "",
                                           form.reference.data or "")
            except BreachError as error:
                form[error.field].errors = [str(error)]
            else:
                flash(_("The breach is in the register. The 72-hour clock runs from its discovery."), "success")
                return redirect(url_for("staff_breaches.breach", breach_id=breach.id), 303)
    return _list(form, 400)


def _breach_or_404(breach_id: str) -> Breach:
    found = record_id(breach_id)
    breach = breaches.get(found) if found is not None else None
    if breach is None:
        abort(404)
    return breach


def _show(breach: Breach, form: DecisionForm, status: int = 200) -> ResponseReturnValue:
    return render_template("staff/breach.html", section="breaches", breach=breach,
                           clock=breaches.clock(breach), late=breaches.late_notification(breach), form=form,
                           time_hint=TIME_HINT, page_errors=status >= 400), status


@bp.get("/<breach_id>")
@staff_required
def breach(breach_id: str) -> ResponseReturnValue:
    found = _breach_or_404(breach_id)
    notified = found.authority_notified_at
    form = DecisionForm(formdata=None, decision=found.decision, reason=found.decision_reason,
                        notified_at=localtime(notified).rsplit(" ", 1)[0] if notified else "",
                        people_informed=found.people_informed)
    return _show(found, form)


@bp.post("/<breach_id>")
@staff_required
def decide(breach_id: str) -> ResponseReturnValue:
    found = _breach_or_404(breach_id)
    form = DecisionForm()
    if form.validate_on_submit():
        raw = (form.notified_at.data or "").strip()
        notified = local_time(raw, _zone()) if raw else None
        if raw and notified is None:
            form.notified_at.errors = [_("Write the time like %(example)s.", example=TIME_HINT)]
        else:
            try:
                breaches.decide(current_user, found.id, form.decision.data, form.reason.data or "", notified,
                                form.people_informed.data or "")
            except BreachError as error:
                form[error.field].errors = [str(error)]
            else:
                flash(_("The decision is recorded."), "success")
                return redirect(url_for("staff_breaches.breach", breach_id=found.id), 303)
    return _show(found, form, 400)
