"""Second-factor forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from portal.mfa.passkeys import MAX_CREDENTIAL_JSON, MAX_NAME
from portal.translate import lazy_gettext as _l

CODE = [Optional(), Length(max=64, message=_l("That code is too long."))]
CREDENTIAL = [Optional(), Length(max=MAX_CREDENTIAL_JSON, message=_l("The passkey's answer is too long."))]


class CodeForm(FlaskForm):
    """The second sign-in step: a code from the app, a recovery code, or a passkey's answer."""

    code = StringField(_l("Code from your authenticator app, or a recovery code"), validators=CODE)
    credential = HiddenField(validators=CREDENTIAL)


class TotpForm(FlaskForm):
    code = StringField(_l("The 6-digit code your app shows now"),
                       validators=[DataRequired(_l("Please enter the code your app shows.")), *CODE])


class ConfirmForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[Optional(), Length(max=4096)])
    code = StringField(_l("Or a code from your authenticator app, or a recovery code"), validators=CODE)
    credential = HiddenField(validators=CREDENTIAL)


class PasskeyLoginForm(FlaskForm):
    credential = HiddenField(validators=CREDENTIAL)


class PasskeyForm(FlaskForm):
    name = StringField(_l("A name for this passkey"), validators=[
        Optional(), Length(max=MAX_NAME, message=_l("Please keep the name under 64 characters."))])
    credential = HiddenField(validators=CREDENTIAL)


class RenameForm(FlaskForm):
    name = StringField(_l("New name"), validators=[
        DataRequired(_l("Please enter a name.")),
        Length(max=MAX_NAME, message=_l("Please keep the name under 64 characters."))])


class PostForm(FlaskForm):
    """Nothing but the CSRF token (one-button actions)."""
