"""People: look an account up by its exact address and a reason; see it; end sessions; newsletter."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.accounts.models import User
from portal.extensions import db
from portal.inputs import record_id
from portal.mfa.reauth import fresh_auth_required
from portal.newsletter.subscriptions import SubscriptionError
from portal.staff import access_log, people
from portal.staff.access import staff_required
from portal.staff.forms import LookupForm, NewsletterForm, PostForm
from portal.staff.models import StaffAccess
from portal.staff.people import PeopleError
from portal.translate import gettext as _

bp = Blueprint("staff_people", __name__, url_prefix="/staff/people")


@bp.get("")
@staff_required
def find() -> str:
    return render_template("staff/people.html", section="people", form=LookupForm(formdata=None))


@bp.post("")
@staff_required
def look_up() -> ResponseReturnValue:
    form = LookupForm()
    if form.validate_on_submit():
        try:
            look = people.look_up(current_user, form.email.data, form.reason.data)
        except PeopleError as error:
            (form.reason if error.field == "reason" else form.email).errors = [str(error)]
        else:
            # The page's address names the look, never the person's address (it would reach logs).
            return redirect(url_for("staff_people.person", look=look.id), 303)
    return render_template("staff/people.html", section="people", form=form, page_errors=True), 400


def _look(look: str) -> StaffAccess:
    """The staff member's own recent look; anything else (another's, an old one) is 404."""
    look_id = record_id(look)
    entry = access_log.live_look(current_user, look_id) if look_id is not None else None
    if entry is None:
        abort(404)
    return entry


@bp.get("/look/<look>")
@staff_required
def person(look: str) -> ResponseReturnValue:
    entry = _look(look)
    user = db.session.get(User, entry.user_id)
    if user is None:
        abort(404)
    return render_template("staff/person.html", section="people", look=entry, person=people.person(user),
                           post_form=PostForm(formdata=None), looks=access_log.of_user(user))


def _person_path(look: str) -> str:
    """Where a stale action returns after /account/confirm: the person's page (or the search)."""
    look_id = record_id(look)
    if look_id is None:
        return url_for("staff_people.find")
    return url_for("staff_people.person", look=look_id)


def _back(entry: StaffAccess) -> ResponseReturnValue:
    return redirect(url_for("staff_people.person", look=entry.id), 303)


@bp.post("/look/<look>/sessions")
@staff_required
@fresh_auth_required(back=_person_path)
def end_sessions(look: str) -> ResponseReturnValue:
    entry = _look(look)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        count = people.end_sessions(current_user, entry)
    except PeopleError as error:
        flash(str(error), "error")
    else:
        flash(_("Signed out %(count)d session(s).", count=count), "success")
    return _back(entry)


@bp.post("/look/<look>/newsletter")
@staff_required
@fresh_auth_required(back=_person_path)
def newsletter(look: str) -> ResponseReturnValue:
    entry = _look(look)
    form = NewsletterForm()
    if not form.validate_on_submit() or form.action.data not in ("suppress", "restore"):
        abort(400)
    try:
        if form.action.data == "suppress":
            people.suppress_newsletter(current_user, entry)
            flash(_("The newsletter is suppressed for this address."), "success")
        else:
            lifted = people.restore_newsletter(current_user, entry)
            flash(_("The suppression is lifted; the person can subscribe again.") if lifted
                  else _("The address was not suppressed."), "success")
    except (PeopleError, SubscriptionError) as error:
        flash(str(error), "error")
    return _back(entry)
