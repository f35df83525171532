"""Privacy forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.privacy.inquiries import MAX_MESSAGE_LENGTH
from portal.privacy.models import TOPICS
from portal.translate import lazy_gettext as _l

TOO_LONG = _l("Please keep the message under %(num)d characters.", num=MAX_MESSAGE_LENGTH)
SECRET = [DataRequired(_l("Please enter your password.")), Length(max=4096, message=_l("That password is too long."))]


def _topic_choices() -> dict[str, str]:
    # Read when the form is built, so the labels are in the page's language.
    return {"": str(_l("Choose a topic…")), **{value: str(label) for value, label in TOPICS.items()}}


class InquiryForm(FlaskForm):
    email = StringField(
        _l("Your email address"),
        validators=[
            DataRequired(_l("Please enter your email address.")),
            Length(max=320, message=_l("That address is too long.")),
        ],
    )
    topic = SelectField(
        _l("Topic"),
        choices=_topic_choices,
        validators=[DataRequired(_l("Please choose a topic from the list."))],
        validate_choice=True,
    )
    message = TextAreaField(
        _l("Your message"),
        validators=[
            DataRequired(_l("Please write your message.")),
            # Browsers send line breaks as CRLF but count them as one character; the service
            # normalises them and enforces the real limit, this only stops abuse early.
            Length(max=2 * MAX_MESSAGE_LENGTH, message=TOO_LONG),
        ],
    )


class PasswordForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=SECRET)


class PostForm(FlaskForm):
    """Nothing but the CSRF token (one-button actions)."""
