"""Languages: Flask-Babel with gettext catalogues under ``portal/translations``.

Templates get ``_``, ``gettext`` and ``ngettext`` from Flask-Babel's Jinja extension; Python code
imports ``gettext``/``lazy_gettext`` from ``flask_babel``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app
from flask_babel import Babel

TRANSLATIONS = Path(__file__).resolve().parent / "translations"

babel = Babel()


def select_locale() -> str:
    return str(current_app.config.get("DEFAULT_LANGUAGE", "en"))


def select_timezone() -> str:
    return str(current_app.config["TIMEZONE"])


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
