"""Account forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.translate import lazy_gettext as _l

# Generous outer bounds: the precise rules live in the service, these only stop abuse early.
EMAIL = [DataRequired(_l("Please enter your email address.")), Length(max=320, message=_l("That address is too long."))]
SECRET = [DataRequired(_l("Please enter a password.")), Length(max=4096, message=_l("That password is too long."))]


class SignupForm(FlaskForm):
    email = StringField(_l("Email address"), validators=EMAIL)
    password = PasswordField(_l("Password"), validators=SECRET)
    newsletter = BooleanField(_l("Send me the newsletter (at most once a month; unsubscribe at any time)"),
                              default=False)


class LoginForm(FlaskForm):
    email = StringField(_l("Email address"), validators=EMAIL)
    password = PasswordField(_l("Password"), validators=SECRET)


class EmailForm(FlaskForm):
    email = StringField(_l("Email address"), validators=EMAIL)


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=SECRET)


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=SECRET)
    new_password = PasswordField(_l("New password"), validators=SECRET)


class ChangeEmailForm(FlaskForm):
    password = PasswordField(_l("Current password"), validators=SECRET)
    new_email = StringField(_l("New email address"), validators=EMAIL)


class RevokeSessionForm(FlaskForm):
    # ASCII only and nothing around it (see portal.inputs); Optional() lets whitespace through,
    # so the view reads the id with inputs.record_id, never int().
    session_id = HiddenField(validators=[Optional(), Regexp(r"\A[0-9]{1,9}\Z", message=_l("Unknown session."))])
    all_others = HiddenField(validators=[Optional(), Regexp(r"\A1\Z")])


class PostForm(FlaskForm):
    """A form with nothing but the CSRF token (logout, one-button actions)."""
