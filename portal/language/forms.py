"""The switcher's form (Flask-WTF: CSRF like every other form)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length


class LanguageForm(FlaskForm):
    # Checked against LANGUAGES in the view: the list is the operator's, not fixed here.
    language = StringField(_l("Language"), validators=[DataRequired(_l("Please choose a language.")), Length(max=16)])
    next = HiddenField()
