"""The console's newsletter forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.i18n import language_name
from portal.newsletter.issues import MAX_BODY, MAX_SUBJECT
from portal.translate import gettext as _
from portal.translate import lazy_gettext as _l

# No control characters (PostgreSQL refuses NUL; none belongs in a subject or a reason); a body
# keeps its tabs and line ends.
ONE_LINE = Regexp(r"\A[^\x00-\x1f\x7f]*\Z", message=_l("Please use one line of ordinary text."))
TEXT = Regexp(r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z", message=_l("The text contains control characters."))


class ComposeForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[
        DataRequired(_l("Please enter a subject.")),
        Length(max=MAX_SUBJECT, message=_l("The subject is at most %(n)d characters.", n=MAX_SUBJECT)),
        ONE_LINE,
    ])
    body = TextAreaField(_l("Body (Markdown)"), validators=[
        DataRequired(_l("Please write the issue.")),
        Length(max=MAX_BODY, message=_l("The body is at most %(n)d characters.", n=MAX_BODY)),
        TEXT,
    ])


class PreviewForm(ComposeForm):
    """The same fields, for the preview: an empty draft previews as an empty page, not an error."""

    subject = StringField(_l("Subject"), validators=[Optional(), Length(max=MAX_SUBJECT), ONE_LINE])
    body = TextAreaField(_l("Body (Markdown)"), validators=[Optional(), Length(max=MAX_BODY), TEXT])


def other_languages() -> list[str]:
    """The languages an issue may carry besides the default one's text (the issue's own)."""
    default = current_app.config["DEFAULT_LANGUAGE"]
    return [code for code in current_app.config["LANGUAGES"] if code != default]


def _with_languages(base: type[FlaskForm]) -> type[FlaskForm]:
    """``base`` plus an optional ``subject_<code>`` and ``body_<code>`` per other language and the
    preview's language choice: the set of languages is configuration, so the class is built here."""
    fields: dict[str, object] = {}
    for code in other_languages():
        fields[f"subject_{code}"] = StringField(_l("Subject"), validators=[
            Optional(), Length(max=MAX_SUBJECT, message=_l("The subject is at most %(n)d characters.", n=MAX_SUBJECT)),
            ONE_LINE])
        fields[f"body_{code}"] = TextAreaField(_l("Body (Markdown)"), validators=[
            Optional(), Length(max=MAX_BODY, message=_l("The body is at most %(n)d characters.", n=MAX_BODY)), TEXT])
    languages = [current_app.config["DEFAULT_LANGUAGE"], *other_languages()]
    choices = [SelectChoice(code, language_name(code)) for code in languages]
    fields["preview_language"] = SelectField(_l("Preview in"), choices=choices, default=languages[0],
                                             validate_choice=False)
    return type(f"{base.__name__}WithLanguages", (base,), fields)


def compose_form(**kwargs: object) -> FlaskForm:
    return _with_languages(ComposeForm)(**kwargs)


def preview_form() -> FlaskForm:
    return _with_languages(PreviewForm)()


def texts_of(form: FlaskForm) -> dict[str, tuple[str, str]]:
    """The other languages' (subject, body) as typed; a language left empty is absent."""
    texts = {}
    for code in other_languages():
        subject = (form[f"subject_{code}"].data or "").strip()
        body = form[f"body_{code}"].data or ""
        if subject or body.strip():
            texts[code] = (subject, body)
    return texts


def language_errors(form: FlaskForm) -> bool:
    """A language with only a subject or only a body is an error on the missing field."""
    found = False
    for code in other_languages():
        subject, body = form[f"subject_{code}"], form[f"body_{code}"]
        if (subject.data or "").strip() and not (body.data or "").strip():
            body.errors = [*body.errors, _("Please write the issue in this language too, or clear its subject.")]
            found = True
        elif (body.data or "").strip() and not (subject.data or "").strip():
            subject.errors = [*subject.errors, _("Please enter a subject in this language too, or clear its body.")]
            found = True
    return found


class CapForm(FlaskForm):
    """Send now: the second issue of a month needs the flag and its reason, as on the command line."""

    second_this_month = BooleanField(_l("This is the second issue this month"))
    reason = StringField(_l("Reason for a second issue this month (recorded)"),
                         validators=[Optional(), Length(max=500, message=_l("At most 500 characters.")), ONE_LINE])


class ScheduleForm(CapForm):
    when = DateTimeLocalField(_l("Send at"), format="%Y-%m-%dT%H:%M",
                              validators=[DataRequired(_l("Please give a date and time, such as 2027-01-05T09:00."))])


class ActionForm(FlaskForm):
    """Nothing but the CSRF token: pause, resume, retry, test copy, unschedule."""


class ReviewForm(FlaskForm):
    delivery = HiddenField(validators=[DataRequired(), Regexp(r"\A[0-9]{1,9}\Z")])
    decision = RadioField(_l("What happened to this copy?"), choices=[
        SelectChoice("delivered", _l("It arrived (the relay's log shows it): mark it delivered")),
        SelectChoice("resend", _l("It did not arrive: send it again")),
    ], validators=[DataRequired(_l("Please choose what happened."))])
