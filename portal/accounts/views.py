"""Account pages: thin views that parse a form, call the service and render."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from portal.accounts import devices, history, service, sessions
from portal.accounts.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    EmailForm,
    LoginForm,
    NewPasswordForm,
    PostForm,
    RevokeSessionForm,
    SignupForm,
)
from portal.accounts.password_policy import password_problem
from portal.accounts.requestinfo import this_client
from portal.accounts.service import AccountError
from portal.inputs import record_id
from portal.mfa import second_step
from portal.mfa.reauth import fresh_auth_required
from portal.security.redirects import safe_path
from portal.translate import gettext as _
from portal.translate import ngettext

bp = Blueprint("accounts", __name__)
bp.add_app_template_filter(devices.describe, "device")
bp.add_app_template_filter(devices.ago, "ago")

CHECK_INBOX = ("signup", "reset", "resend")


def _check_inbox(purpose: str) -> ResponseReturnValue:
    # Post/redirect/get: a reload of the next page shows it again instead of re-sending the form.
    return redirect(url_for("accounts.check_inbox", purpose=purpose), 303)


@bp.get("/check-inbox/<any(signup, reset, resend):purpose>")
def check_inbox(purpose: str) -> ResponseReturnValue:
    return render_template("accounts/check_inbox.html", purpose=purpose)


def _user_words(email: str) -> list[str]:
    return [email, email.split("@")[0], current_app.config["SITE_NAME"]]


def _signup_problems(form: SignupForm) -> bool:
    """Every problem of a signup at once (the service stops at the first), tied to its field."""
    email = ""
    try:
        email = service.normalise_email(form.email.data)
    except AccountError as error:
        form.email.errors.append(str(error))
    problem = password_problem(form.password.data, _user_words(email) if email else [])
    if problem:
        form.password.errors.append(problem)
    return bool(form.email.errors or form.password.errors)


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    form = SignupForm()
    if form.validate_on_submit() and not _signup_problems(form):
        try:
            service.signup(form.email.data, form.password.data, bool(form.newsletter.data))
        except AccountError as error:
            form.form_errors.append(str(error))
        else:
            return _check_inbox("signup")
    return render_template("accounts/signup.html", form=form), 400 if form.is_submitted() else 200


@bp.get("/confirm/<token>")
def confirm(token: str) -> ResponseReturnValue:
    try:
        service.confirm(token)
    except AccountError as error:
        return render_template("accounts/link_problem.html", message=str(error), resend=True), 400
    flash(_("Your email address is confirmed. You can sign in now."), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/confirm/resend", methods=["GET", "POST"])
def resend_confirmation() -> ResponseReturnValue:
    form = EmailForm()
    if form.validate_on_submit():
        service.resend_confirmation(form.email.data)
        return _check_inbox("resend")
    return render_template("accounts/resend.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    next_path = safe_path(request.args.get("next"), "")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_path or url_for("accounts.account"))
    form = LoginForm()
    status = 200
    unconfirmed = False
    if form.validate_on_submit():
        client = this_client()
        result = service.authenticate(form.email.data, form.password.data, client)
        if result.outcome == "success" and result.user is not None:
            # Two-step sign-in (portal.mfa): with a second factor, no session until it passes.
            if second_step.needs_second_step(result.user):
                return second_step.begin_second_step(result.user, next_path)
            sessions.issue_cookie(sessions.start_session(result.user, client))
            return redirect(next_path or url_for("accounts.account"))
        if result.outcome == "throttled":
            minutes = max(1, (result.retry_after + 59) // 60)
            form.form_errors.append(ngettext(
                "Too many failed sign-in attempts for this address. Please wait about %(num)d minute, "
                "or reset your password.",
                "Too many failed sign-in attempts for this address. Please wait about %(num)d minutes, "
                "or reset your password.", minutes,
            ))
            response = current_app.make_response(
                (render_template("accounts/login.html", form=form, next_path=next_path), 429)
            )
            response.headers["Retry-After"] = str(result.retry_after)
            return response
        if result.outcome == "unconfirmed":
            unconfirmed = True
            form.form_errors.append(_("Please confirm your email address first: use the link we sent you."))
        else:
            form.form_errors.append(_("Invalid email or password."))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("accounts/login.html", form=form, next_path=next_path, unconfirmed=unconfirmed), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    form = PostForm()
    if not form.validate_on_submit():
        return render_template("errors/error.html", code=400, title=_("Bad request"),
                               message=_("Please use the sign-out button.")), 400
    sessions.end_session(sessions.current_session())
    flash(_("You are signed out."), "success")
    return redirect(url_for("main.home"))


@bp.route("/reset-password", methods=["GET", "POST"])
def reset_request() -> ResponseReturnValue:
    form = EmailForm()
    if form.validate_on_submit():
        service.request_reset(form.email.data)
        return _check_inbox("reset")
    return render_template("accounts/reset_request.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    try:
        service.user_for_reset(token)
    except AccountError as error:
        return render_template("accounts/link_problem.html", message=str(error), reset=True), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            service.reset_password(token, form.password.data)
        except AccountError as error:
            form.password.errors = [str(error)]
        else:
            sessions.end_session(sessions.current_session())
            flash(_("Your password is changed and every session was signed out. Please sign in."), "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_form.html", form=form), 400 if form.is_submitted() else 200


@bp.get("/account")
@login_required
def account() -> ResponseReturnValue:
    return render_template(
        "accounts/account.html",
        section="overview",
        sessions=sessions.live_sessions(current_user),
        current=sessions.current_session(),
        attempts=history.sign_ins(current_user, size=3),
    )


def _cursor() -> history.Cursor | None:
    """The ``after`` of a "show more" link; a link we did not make stops at 400 (CursorError)."""
    return history.Cursor.decode(request.args.get("after"))


@bp.errorhandler(history.CursorError)
def _bad_cursor(error: history.CursorError) -> ResponseReturnValue:
    return render_template("errors/error.html", code=400, title=_("Bad request"),
                           message=_("That page link is not valid. Please start again from the first page.")), 400


@bp.get("/account/sign-ins")
@login_required
def sign_ins() -> ResponseReturnValue:
    return render_template("accounts/sign_ins.html", section="security", after=request.args.get("after"),
                           attempts=history.sign_ins(current_user, _cursor(), history.PAGE_SIZE))


@bp.get("/account/data/cookie-choices")
@login_required
def cookie_choices() -> ResponseReturnValue:
    return render_template("accounts/cookie_choices.html", section="data", after=request.args.get("after"),
                           choices=history.cookie_choices(current_user, _cursor(), history.PAGE_SIZE))


@bp.get("/account/data/newsletter-history")
@login_required
def newsletter_history() -> ResponseReturnValue:
    return render_template("accounts/newsletter_history.html", section="data", after=request.args.get("after"),
                           changes=history.newsletter_changes(current_user, _cursor(), history.PAGE_SIZE))


@bp.get("/account/security")
@login_required
def security() -> ResponseReturnValue:
    return _render_security()


def _render_security(status: int = 200, form: ChangePasswordForm | None = None) -> ResponseReturnValue:
    return render_template(
        "accounts/security.html",
        section="security",
        password_form=form or ChangePasswordForm(formdata=None),
        attempts=history.sign_ins(current_user),
    ), status


@bp.get("/account/email")
@login_required
def email_settings() -> ResponseReturnValue:
    return _render_email()


def _render_email(status: int = 200, form: ChangeEmailForm | None = None) -> ResponseReturnValue:
    return render_template("accounts/email.html", section="email",
                           email_form=form or ChangeEmailForm(formdata=None)), status


@bp.get("/account/data")
@login_required
def your_data() -> ResponseReturnValue:
    return render_template("accounts/data.html", section="data", choices=history.cookie_choices(current_user),
                           changes=history.newsletter_changes(current_user))


@bp.post("/account/password")
@login_required
@fresh_auth_required(own_check="current_password")
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        # The service stops at its first problem; the new password's own problem is known
        # beforehand, so a wrong current password and a weak new one are both reported.
        weak = password_problem(form.new_password.data, _user_words(current_user.email))
        try:
            service.change_password(current_user, form.current_password.data, form.new_password.data,
                                    keep=sessions.current_session(), ip=this_client().ip)
        except AccountError as error:
            if str(error) != weak:
                form.current_password.errors.append(str(error))
            if weak:
                form.new_password.errors.append(weak)
        else:
            flash(_("Your password is changed. Every other session was signed out."), "success")
            return redirect(url_for("accounts.security"))
    return _render_security(400, form)


@bp.post("/account/email")
@login_required
@fresh_auth_required(own_check="password", back="accounts.email_settings")
def change_email() -> ResponseReturnValue:
    form = ChangeEmailForm()
    if form.validate_on_submit():
        address_problem = ""
        try:
            service.normalise_email(form.new_email.data)
        except AccountError as error:
            address_problem = str(error)
        try:
            service.request_email_change(current_user, form.password.data, form.new_email.data, this_client().ip)
        except AccountError as error:
            if address_problem:
                form.new_email.errors.append(address_problem)
            if str(error) != address_problem:
                # A well-formed address fails only on the password, or on being the current one.
                same = not address_problem and service.email_key(
                    service.normalise_email(form.new_email.data)) == current_user.email_key
                (form.new_email if same else form.password).errors.append(str(error))
        else:
            flash(_("We sent a confirmation link to the new address. Your address changes once you open it."),
                  "success")
            return redirect(url_for("accounts.email_settings"))
    return _render_email(400, form)


@bp.get("/account/email/confirm/<token>")
def confirm_email_change(token: str) -> ResponseReturnValue:
    try:
        service.confirm_email_change(token)
    except AccountError as error:
        return render_template("accounts/link_problem.html", message=str(error)), 400
    flash(_("Your email address is changed."), "success")
    return redirect(url_for("accounts.account" if current_user.is_authenticated else "accounts.login"))


@bp.get("/account/sessions")
@login_required
def list_sessions() -> ResponseReturnValue:
    # No form object: the page writes its few hidden inputs itself, and building one loaded
    # WTForms' own catalogue for its unlabelled fields on every view.
    return render_template("accounts/sessions.html", section="sessions", after=request.args.get("after"),
                           sessions=sessions.live_sessions(current_user, _cursor(), history.PAGE_SIZE),
                           current=sessions.current_session())


@bp.post("/account/sessions/revoke")
@login_required
def revoke_sessions() -> ResponseReturnValue:
    form = RevokeSessionForm()
    current = sessions.current_session()
    session_id = record_id(form.session_id.data)
    if not form.validate_on_submit() or not (session_id is not None or form.all_others.data == "1"):
        flash(_("Choose a session to sign out."), "error")
        return redirect(url_for("accounts.list_sessions")), 303
    if form.all_others.data == "1":
        count = sessions.end_all_sessions(current_user, keep=current)
        flash(ngettext("Signed out %(num)d other session.", "Signed out %(num)d other sessions.", count), "success")
        return redirect(url_for("accounts.list_sessions"))
    record = sessions.session_of(current_user, session_id) if session_id is not None else None
    if record is None:
        flash(_("That session no longer exists."), "error")
        return redirect(url_for("accounts.list_sessions"))
    if current is not None and record.id == current.id:
        sessions.end_session(record)
        flash(_("You are signed out."), "success")
        return redirect(url_for("main.home"))
    sessions.revoke(record.id)
    flash(_("The session is signed out."), "success")
    return redirect(url_for("accounts.list_sessions"))
