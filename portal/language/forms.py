"""The switcher's form.

It carries no CSRF token: a token would put a session cookie on every page of every visitor,
cookie-less pages included. The view checks instead that the post comes from one of our pages
(``Sec-Fetch-Site``/``Origin``/``Referer``, OWASP's standard-header defence); all a forged post
could do anyway is change the language.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from portal.translate import lazy_gettext as _l


class LanguageForm(FlaskForm):
    class Meta:
        csrf = False

    # Checked against LANGUAGES in the view: the list is the operator's, not fixed here.
    language = StringField(_l("Language"), validators=[DataRequired(_l("Please choose a language.")), Length(max=16)])
    next = HiddenField()
