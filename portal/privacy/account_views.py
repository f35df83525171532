"""/account/export and /account/delete: the person's own data, behind their password."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from portal.accounts import sessions
from portal.accounts.requestinfo import this_client
from portal.mfa.reauth import fresh_auth_required
from portal.privacy import rights
from portal.privacy.forms import PasswordForm
from portal.privacy.rights import RightsError
from portal.translate import gettext as _

bp = Blueprint("privacy_account", __name__)



def _attachment() -> Response:
    response = Response(rights.export_json(current_user), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{rights.export_filename()}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/export", methods=["GET", "POST"])
@login_required
@fresh_auth_required(own_check="password", back="accounts.your_data")
def export() -> ResponseReturnValue:
    record = sessions.current_session()
    form = PasswordForm()
    if form.is_submitted():
        if form.validate_on_submit():
            try:
                rights.check_password(current_user, form.password.data, this_client().ip)
            except RightsError as error:
                form.password.errors = [str(error)]
            else:
                if record is not None:
                    sessions.mark_reauthenticated(record)
                return _attachment()
        return render_template("privacy/export_password.html", form=form), 400
    if sessions.recently_reauthenticated(record, current_app.config["EXPORT_REAUTH_SECONDS"]):
        return _attachment()
    return render_template("privacy/export_password.html", form=form)


@bp.post("/account/delete")
@login_required
@fresh_auth_required(own_check="password", back="accounts.your_data")
def delete() -> ResponseReturnValue:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            rights.erase_account(current_user._get_current_object(), form.password.data, this_client().ip)
        except RightsError as error:
            form.password.errors = [str(error)]
        else:
            sessions.end_session(None)  # the row went with the account; this clears the cookies
            flash(_("Your account and its personal data have been deleted. A confirmation is on its way."), "success")
            return redirect(url_for("main.home"), 303)
    return render_template("privacy/delete.html", form=form), 400
