"""The account's passkeys, authenticator app and recovery codes (all behind re-authentication)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from portal.inputs import record_id
from portal.mfa import factors, notices, passkeys, recovery, totp
from portal.mfa.forms import PasskeyForm, PostForm, RenameForm, TotpForm
from portal.mfa.models import Passkey
from portal.mfa.passkeys import PasskeyError
from portal.mfa.reauth import fresh_auth_required
from portal.translate import gettext as _

bp = Blueprint("mfa_account", __name__)


def _back() -> ResponseReturnValue:
    return redirect(url_for("accounts.security", _anchor="second-factor"), 303)


def _codes_page(codes: list[str], first: bool) -> ResponseReturnValue:
    """The only time recovery codes exist in the clear: never cached, never stored."""
    response = current_app.make_response(render_template("mfa/recovery_codes.html", codes=codes, first=first,
                                                         section="security"))
    response.headers["Cache-Control"] = "no-store"
    return response


def _first_codes(user_id: int) -> list[str] | None:
    """Recovery codes for an account that has none yet (its first second factor)."""
    return recovery.generate(user_id) if recovery.remaining(user_id) == 0 else None


def _forget_codes_without_factor(user_id: int) -> None:
    # Without a second factor there is no second step to recover from; the next factor gets new codes.
    if not factors.has_second_factor(current_user):
        recovery.clear(user_id)


def _new_passkey_page(form: PasskeyForm, status: int = 200) -> ResponseReturnValue:
    options = passkeys.registration_options(current_user.id, current_user.email, current_user.email)
    return render_template("mfa/passkey_new.html", form=form, options=options, section="security"), status


@bp.get("/account/passkeys/new")
@login_required
@fresh_auth_required()
def new_passkey() -> ResponseReturnValue:
    return _new_passkey_page(PasskeyForm(formdata=None))


@bp.post("/account/passkeys")
@login_required
@fresh_auth_required(back="mfa_account.new_passkey")
def add_passkey() -> ResponseReturnValue:
    form = PasskeyForm()
    if not form.validate_on_submit():
        return _new_passkey_page(form, 400)
    user_id, email = current_user.id, current_user.email
    name = passkeys.clean_name(form.name.data, _("Passkey %(number)s", number=len(passkeys.of(user_id)) + 1))
    try:
        passkeys.register(user_id, form.credential.data, name,
                          also=lambda record: notices.passkey_added(email, user_id, record.name))
    except PasskeyError as error:
        form.name.errors.append(str(error))
        return _new_passkey_page(form, 400)
    codes = _first_codes(user_id)
    if codes is not None:
        return _codes_page(codes, first=True)
    flash(_("Your passkey “%(name)s” is ready. You can sign in with it now.", name=name), "success")
    return _back()


def _own_passkey(raw_id: str) -> Passkey | None:
    passkey_id = record_id(raw_id)
    return passkeys.find(current_user.id, passkey_id) if passkey_id is not None else None


@bp.post("/account/passkeys/<passkey_id>/rename")
@login_required
def rename_passkey(passkey_id: str) -> ResponseReturnValue:
    form = RenameForm()
    record = _own_passkey(passkey_id)
    if record is None:
        flash(_("That passkey no longer exists."), "error")
        return _back()
    if not form.validate_on_submit():
        flash(" ".join(form.name.errors) or _("Please enter a name."), "error")
        return _back()
    passkeys.rename(record, passkeys.clean_name(form.name.data, record.name))
    flash(_("The passkey is renamed."), "success")
    return _back()


@bp.post("/account/passkeys/<passkey_id>/delete")
@login_required
@fresh_auth_required()
def remove_passkey(passkey_id: str) -> ResponseReturnValue:
    record = _own_passkey(passkey_id)
    if not PostForm().validate_on_submit() or record is None:
        flash(_("That passkey no longer exists."), "error")
        return _back()
    user_id, email, name = current_user.id, current_user.email, record.name
    passkeys.remove(record, also=lambda: notices.passkey_removed(email, user_id, name))
    _forget_codes_without_factor(user_id)
    flash(_("The passkey “%(name)s” is removed.", name=name), "success")
    return _back()


@bp.route("/account/authenticator", methods=["GET", "POST"])
@login_required
@fresh_auth_required(back="mfa_account.authenticator")
def authenticator() -> ResponseReturnValue:
    user_id, email = current_user.id, current_user.email
    if totp.active(user_id) is not None:
        flash(_("An authenticator app is already set up. Remove it first to set up another."), "error")
        return _back()
    record, secret = totp.start_enrolment(user_id)
    form = TotpForm()
    status = 200
    if form.validate_on_submit():
        if totp.accept(record, form.code.data, also=lambda: notices.authenticator_added(email, user_id)):
            codes = _first_codes(user_id)
            if codes is not None:
                return _codes_page(codes, first=True)
            flash(_("Your authenticator app is set up."), "success")
            return _back()
        form.code.errors.append(_("That code is not correct. Check the time on your phone and try the new code."))
        status = 400
    elif form.is_submitted():
        status = 400
    uri = totp.provisioning_uri(secret, email)
    response = current_app.make_response((render_template(
        "mfa/authenticator.html", form=form, secret=secret, uri=uri, section="security",
        qr=totp.qr_svg(uri, _("QR code for your authenticator app"))), status))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/authenticator/delete")
@login_required
@fresh_auth_required()
def remove_authenticator() -> ResponseReturnValue:
    if not PostForm().validate_on_submit():
        return _back()
    user_id, email = current_user.id, current_user.email
    if totp.remove(user_id, also=lambda: notices.authenticator_removed(email, user_id)):
        _forget_codes_without_factor(user_id)
        flash(_("The authenticator app is removed."), "success")
    return _back()


@bp.post("/account/recovery-codes")
@login_required
@fresh_auth_required()
def regenerate_codes() -> ResponseReturnValue:
    if not PostForm().validate_on_submit():
        return _back()
    user_id, email = current_user.id, current_user.email
    codes = recovery.generate(user_id, also=lambda: notices.recovery_codes_regenerated(email, user_id))
    return _codes_page(codes, first=False)
