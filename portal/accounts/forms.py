"""Account forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

# Generous outer bounds: the precise rules live in the service, these only stop abuse early.
EMAIL = [DataRequired("Please enter your email address."), Length(max=320, message="That address is too long.")]
SECRET = [DataRequired("Please enter a password."), Length(max=4096, message="That password is too long.")]


class SignupForm(FlaskForm):
    email = StringField("Email address", validators=EMAIL)
    password = PasswordField("Password", validators=SECRET)
    newsletter = BooleanField("Send me the newsletter (at most once a month; unsubscribe at any time)", default=False)


class LoginForm(FlaskForm):
    email = StringField("Email address", validators=EMAIL)
    password = PasswordField("Password", validators=SECRET)


class EmailForm(FlaskForm):
    email = StringField("Email address", validators=EMAIL)


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=SECRET)


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=SECRET)
    new_password = PasswordField("New password", validators=SECRET)


class ChangeEmailForm(FlaskForm):
    password = PasswordField("Current password", validators=SECRET)
    new_email = StringField("New email address", validators=EMAIL)


class RevokeSessionForm(FlaskForm):
    # ASCII only and nothing around it (see portal.inputs); Optional() lets whitespace through,
    # so the view reads the id with inputs.record_id, never int().
    session_id = HiddenField(validators=[Optional(), Regexp(r"\A[0-9]{1,9}\Z", message="Unknown session.")])
    all_others = HiddenField(validators=[Optional(), Regexp(r"\A1\Z")])


class PostForm(FlaskForm):
    """A form with nothing but the CSRF token (logout, one-button actions)."""
