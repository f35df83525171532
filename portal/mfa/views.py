"""Signing in with a second factor or a passkey alone, and confirming it is still you."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from portal.accounts import sessions, throttle
from portal.accounts.models import User
from portal.accounts.requestinfo import this_client
from portal.extensions import db
from portal.mfa import factors, passkeys, reauth, second_step, totp
from portal.mfa.forms import CodeForm, ConfirmForm, PasskeyLoginForm
from portal.mfa.passkeys import PasskeyError
from portal.security.redirects import safe_path
from portal.translate import gettext as _
from portal.translate import ngettext

bp = Blueprint("mfa", __name__)


def _too_many(template: str, retry_after: int, **context: object) -> Response:
    minutes = max(1, (retry_after + 59) // 60)
    context.setdefault("throttled", ngettext("Too many wrong attempts for this account. Please wait about a minute.",
                                             "Too many wrong attempts for this account. Please wait about %(num)d "
                                             "minutes.", minutes))
    response = current_app.make_response((render_template(template, **context), 429))
    response.headers["Retry-After"] = str(retry_after)
    return response


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/login/verify", methods=["GET", "POST"])
def verify() -> ResponseReturnValue:
    found = second_step.pending_user()
    if found is None:
        flash(_("That sign-in has expired, or was never started. Please sign in again."), "error")
        return redirect(url_for("accounts.login"), 303)
    step, user = found
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        client = this_client()
        result = factors.check(user, form.code.data, form.credential.data, "verify", client.ip)
        if result.ok:
            target = second_step.finish(step, user, client)
            if target is None:
                flash(_("That sign-in has expired, or was never started. Please sign in again."), "error")
                return redirect(url_for("accounts.login"), 303)
            return redirect(target, 303)
        if result.retry_after:
            return _verify_page(form, user, 429, result.retry_after)
        form.code.errors.append(result.message)
        status = 400
    elif form.is_submitted():
        status = 400
    return _verify_page(form, user, status)


def _verify_page(form: CodeForm, user: User, status: int, retry_after: int = 0) -> ResponseReturnValue:
    keys = passkeys.of(user.id)
    options = passkeys.authentication_options("verify", user.id) if keys else None
    context = {"form": form, "options": options, "has_app": totp.active(user.id) is not None}
    if retry_after:
        return _no_store(_too_many("mfa/verify.html", retry_after, **context))
    return _no_store(current_app.make_response((render_template("mfa/verify.html", **context), status)))


@bp.post("/login/passkey/options")
def login_options() -> ResponseReturnValue:
    """Options for a passkey sign-in (conditional UI or the button); the challenge is this browser's."""
    response = current_app.make_response((passkeys.authentication_options("login"), 200))
    response.mimetype = "application/json"
    return _no_store(response)


@bp.post("/login/passkey")
def login_passkey() -> ResponseReturnValue:
    next_path = safe_path(request.args.get("next"), "")
    form = PasskeyLoginForm()
    message = _("That passkey was not accepted. Please try again, or sign in with your password.")
    if form.validate_on_submit():
        try:
            record = passkeys.authenticate("login", form.credential.data)
        except PasskeyError as error:
            message = str(error)
        else:
            user = db.session.get(User, record.user_id)
            if user is not None and user.is_confirmed:
                client = this_client()
                second_step.record_success(user, client.ip)
                sessions.issue_cookie(sessions.start_session(user, client))
                return redirect(next_path or url_for("accounts.account"), 303)
    return render_template("mfa/passkey_login.html", message=message, next_path=next_path), 400


@bp.route("/account/confirm", methods=["GET", "POST"])
@login_required
def confirm() -> ResponseReturnValue:
    """Confirm it is you (password, code or passkey) before a sensitive action."""
    next_path = safe_path(request.args.get("next"), url_for("accounts.security"))
    user = current_user._get_current_object()
    form = ConfirmForm()
    status = 200
    if form.validate_on_submit():
        if form.credential.data or form.code.data:
            result = factors.check(user, form.code.data, form.credential.data, "confirm", this_client().ip)
            if result.retry_after:
                return _confirm_page(form, next_path, 429, result.retry_after)
            if result.ok:
                reauth.mark_fresh()
                return redirect(next_path, 303)
            form.code.errors.append(result.message)
        elif form.password.data:
            if throttle.password_ok(user, form.password.data, this_client().ip):
                reauth.mark_fresh()
                return redirect(next_path, 303)
            form.password.errors.append(_("Your password is not correct."))
        else:
            form.password.errors.append(_("Please enter your password, or use a code or a passkey."))
        status = 400
    elif form.is_submitted():
        status = 400
    return _confirm_page(form, next_path, status)


def _confirm_page(form: ConfirmForm, next_path: str, status: int, retry_after: int = 0) -> ResponseReturnValue:
    user_id = current_user.id
    options = passkeys.authentication_options("confirm", user_id) if passkeys.of(user_id) else None
    context = {"form": form, "options": options, "next_path": next_path,
               "has_factor": factors.has_second_factor(current_user)}
    if retry_after:
        return _no_store(_too_many("mfa/confirm.html", retry_after, **context))
    return _no_store(current_app.make_response((render_template("mfa/confirm.html", **context), status)))
