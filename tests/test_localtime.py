"""``localtime`` formats with Babel's own per-locale patterns: the same text as Flask-Babel's
format_date/format_time, for every format, both languages, summer and winter time, the hours
around each clock change, naive datetimes (read as UTC) and plain dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale, format_date, format_time

from portal.i18n import localtime

# Around Europe/Prague's clock changes of 2026 (29 March, 25 October, at 01:00 UTC), and far off.
INSTANTS = [datetime(2026, 3, 29, 0, 0, tzinfo=UTC) + timedelta(minutes=20 * i) for i in range(9)] + [
    datetime(2026, 10, 25, 0, 0, tzinfo=UTC) + timedelta(minutes=20 * i) for i in range(9)] + [
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2040, 6, 30, 22, 30, tzinfo=UTC)]


def _flask_babel(value: datetime | date, fmt: str) -> str:
    if fmt == "long":
        return str(format_date(value, "long"))
    if fmt == "date" or not isinstance(value, datetime):
        return str(format_date(value, "medium"))
    return f"{format_date(value, 'medium')} {format_time(value, 'short')}"


@pytest.mark.parametrize("language", ["cs", "en"])
def test_the_same_text_as_flask_babel(app, language):
    with app.test_request_context(f"/?lang={language}"):
        for value in [*INSTANTS, *(moment.replace(tzinfo=None) for moment in INSTANTS), date(2026, 2, 28)]:
            for fmt in ("datetime", "date", "long", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
                expected = _flask_babel(value, {"%Y-%m-%d %H:%M": "datetime", "%Y-%m-%d": "date"}.get(fmt, fmt))
                assert localtime(value, fmt) == expected, (value, fmt)
        assert localtime(None) == ""


def test_a_forced_locale_wins(app):
    moment = datetime(2026, 7, 1, 12, 5, tzinfo=UTC)
    with app.test_request_context("/?lang=en"):
        assert localtime(moment) == "Jul 1, 2026 2:05\u202fPM"
        with force_locale("cs"):  # mail in the recipient's language
            assert localtime(moment) == "1. 7. 2026 14:05"
            assert localtime(moment, "long") == "1. července 2026"


def test_outside_a_request(app):
    with app.app_context():
        assert localtime(datetime(2026, 1, 1, 12, 0, tzinfo=UTC), "date") == _flask_babel(
            datetime(2026, 1, 1, 12, 0, tzinfo=UTC), "date")


@pytest.mark.parametrize("language", ["cs", "en"])
def test_the_filter_in_a_render_gives_the_same_text(app, language):
    from flask import render_template_string

    values = [*INSTANTS, datetime(2026, 7, 1, 12, 0), date(2026, 2, 3), None]  # naive: read as UTC
    source = "{% for v in values %}{% for f in formats %}{{ v|localtime(f) }}|{% endfor %}{% endfor %}"
    formats = ["datetime", "date", "long", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
    with app.test_request_context(f"/?lang={language}"):
        expected = "".join(f"{localtime(v, f)}|" for v in values for f in formats)
        assert render_template_string(source, values=values, formats=formats) == expected
        other = "en" if language == "cs" else "cs"
        with force_locale(other):  # a render under another language (mail) formats in that one
            forced = "".join(f"{localtime(v, f)}|" for v in values for f in formats)
            assert forced != expected
            assert render_template_string(source, values=values, formats=formats) == forced
        # Outside render_template (no context processor): the filter asks, with the same answer.
        assert app.jinja_env.from_string(source).render(values=values, formats=formats) == expected
