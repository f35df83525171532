"""Privacy forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.privacy.inquiries import MAX_MESSAGE_LENGTH
from portal.privacy.models import TOPICS

TOO_LONG = f"Please keep the message under {MAX_MESSAGE_LENGTH} characters."
SECRET = [DataRequired("Please enter your password."), Length(max=4096, message="That password is too long.")]


class InquiryForm(FlaskForm):
    email = StringField(
        "Your email address",
        validators=[
            DataRequired("Please enter your email address."),
            Length(max=320, message="That address is too long."),
        ],
    )
    topic = SelectField(
        "Topic",
        choices={"": "Choose a topic…", **TOPICS},
        validators=[DataRequired("Please choose a topic from the list.")],
        validate_choice=True,
    )
    message = TextAreaField(
        "Your message",
        validators=[
            DataRequired("Please write your message."),
            # Browsers send line breaks as CRLF but count them as one character; the service
            # normalises them and enforces the real limit, this only stops abuse early.
            Length(max=2 * MAX_MESSAGE_LENGTH, message=TOO_LONG),
        ],
    )


class PasswordForm(FlaskForm):
    password = PasswordField("Your password", validators=SECRET)


class PostForm(FlaskForm):
    """Nothing but the CSRF token (one-button actions)."""
