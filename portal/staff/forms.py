"""Console forms (Flask-WTF: CSRF on every one). Lengths here only stop abuse early; the plain
functions check the real rules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.staff.desk import MAX_NOTES, MAX_SUBJECT
from portal.translate import lazy_gettext as _l

TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def local_time(raw: object, zone: ZoneInfo) -> datetime | None:
    """A time typed as "2026-12-01 14:30" (the portal's time zone), in UTC; None if it is not one."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    text = " ".join(raw.split())
    for fmt in TIME_FORMATS:
        try:
            wall = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if wall.year < 2000:
            return None
        return wall.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))
    return None


class PostForm(FlaskForm):
    """Nothing but the CSRF token (one-button actions)."""


class CaseForm(FlaskForm):
    assignee = SelectField(_l("Assigned to"), choices=[], validate_choice=False)
    notes = TextAreaField(_l("Notes (staff only; part of the person's export)"),
                          validators=[Length(max=MAX_NOTES, message=_l("The notes are too long."))])


class ExtendForm(FlaskForm):
    months = SelectField(_l("Extend by"),
                         choices=[SelectChoice("1", _l("one month")), SelectChoice("2", _l("two months"))],
                         # The choice check is the validator: a "required" attribute on a select
                         # without an empty first option is invalid HTML.
                         invalid_choice_message=_l("Choose one or two months."))
    reason = TextAreaField(_l("Reason (sent to the sender)"), validators=[
        DataRequired(_l("Give the reason for the extension: the sender is told it.")),
        Length(max=4_000, message=_l("The reason is too long.")),
    ])


class ReplyForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[
        DataRequired(_l("Please write a subject.")), Length(max=MAX_SUBJECT, message=_l("The subject is too long.")),
    ])
    body = TextAreaField(_l("Reply"), validators=[
        DataRequired(_l("Please write the reply.")), Length(max=40_000, message=_l("The reply is too long.")),
    ])
    answered = BooleanField(_l("Mark the inquiry answered once the reply is queued"), default=False)


class EraseForm(FlaskForm):
    password = PasswordField(_l("Your password, to confirm"), validators=[
        DataRequired(_l("Please enter your password.")),
        Length(max=4096, message=_l("That password is too long.")),
    ])


class BreachForm(FlaskForm):
    discovered_at = StringField(_l("Discovered at"), validators=[
        DataRequired(_l("Say when the breach was discovered.")), Length(max=40),
    ])
    summary = StringField(_l("What happened, in a few words"), validators=[
        DataRequired(_l("Say in a few words what happened.")), Length(max=400, message=_l("That is too long.")),
    ])
    description = TextAreaField(_l("Details: data and people affected, likely consequences, measures taken"),
                                validators=[Length(max=40_000, message=_l("That is too long."))])
    reference = StringField(_l("Inquiry reference (if it came as a violation report)"),
                            validators=[Optional(), Length(max=24, message=_l("That is not a reference."))])


class DecisionForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=[
        SelectChoice("pending", _l("Not decided yet")),
        SelectChoice("notify", _l("Notify the supervisory authority")),
        SelectChoice("no-notify", _l("Do not notify: unlikely to result in a risk to people")),
    ], invalid_choice_message=_l("Choose a decision from the list."))
    reason = TextAreaField(_l("Reason for the decision"),
                           validators=[Length(max=40_000, message=_l("That is too long."))])
    notified_at = StringField(_l("Authority notified at"), validators=[Length(max=40)])
    people_informed = TextAreaField(_l("People informed (Art. 34): who, when and how"),
                                    validators=[Length(max=40_000, message=_l("That is too long."))])


class LookupForm(FlaskForm):
    email = StringField(_l("The person's exact email address"), validators=[
        DataRequired(_l("Type the person's whole email address.")),
        Length(max=320, message=_l("That address is too long.")),
    ])
    reason = StringField(_l("Why you need to look"), validators=[
        DataRequired(_l("Say why you need to look.")), Length(max=600, message=_l("The reason is too long.")),
    ])


class NewsletterForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])
