"""Newsletter forms (Flask-WTF: CSRF on the logged-in preferences form)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField

from portal.translate import lazy_gettext as _l


class PreferencesForm(FlaskForm):
    subscribed = BooleanField(_l("Send me the newsletter (at most once a month, in rare cases twice)"))
