"""Languages: Flask-Babel with gettext catalogues under ``portal/translations``.

Templates get ``_``, ``gettext`` and ``ngettext`` (``template_gettext`` below, in place of
Flask-Babel's Jinja wrappers); Python code imports ``gettext``/``lazy_gettext``/``ngettext`` from
``portal.translate``. Which language a request gets, in order:
``?lang=xx`` (that request only, for links), the language cookie (set by the switcher), the
signed-in account's language, the best match of ``Accept-Language``, ``DEFAULT_LANGUAGE``.
Mail is rendered under the recipient's language (``language_of``), whoever sends it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from weakref import WeakKeyDictionary

from babel import Locale
from babel.support import NullTranslations
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, Domain, force_locale, format_date, format_time, get_locale, get_timezone
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from sqlalchemy import inspect
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.utils import cached_property
from werkzeug.wrappers import Response

from portal import cookies
from portal.security.redirects import safe_path
from portal.translate import DOMAIN
from portal.translate import lazy_gettext as _l

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
QUERY_PARAMETER = "lang"




class PortalBabel(Babel):
    @cached_property
    def domain_instance(self) -> Domain:
        return DOMAIN  # the portal's one domain, "messages" (BABEL_DOMAIN is not set)


babel = PortalBabel()

# What a template's gettext gave for a string without variables, per catalogue (weakly: the
# untranslated catalogue outside a request is a new object each time) and autoescape setting:
# the same catalogue and string always give the same text. Capped, in case some page translates
# strings that are not literals.
_RENDERED: WeakKeyDictionary[NullTranslations, tuple[dict[str, str], dict[str, str]]] = WeakKeyDictionary()
RENDERED_CAP = 4096


# The catalogue a render_template call found when it started (``context`` below): every ``_()``
# of that render uses it instead of asking Flask-Babel again (get_locale() through ``g``, about
# 24,000 instructions a call, a tenth of an account page). A render happens in one language:
# mail in another (``language_of``) is rendered by a render_template call of its own.
CATALOGUE = "portal_catalogue"
# The same for the render's locale and time zone (the ``localtime`` filter).
LOCALE = "portal_locale"
ZONE = "portal_timezone"


def _catalogue(context: Context) -> NullTranslations:
    catalogue = context.get(CATALOGUE)
    # Templates rendered without render_template (or macros imported without context): ask.
    return catalogue if catalogue is not None else DOMAIN.get_translations()


@pass_context
def template_gettext(context: Context, string: str, /, **variables: Any) -> str:
    """``_()``, ``gettext()`` and ``{% trans %}`` in templates: what Jinja's "newstyle" gettext
    does (Markup when autoescaping, always %-formatted, so ``%%`` reads as ``%``), without its
    two extra context calls, and remembered for a string without variables."""
    catalogue = _catalogue(context)
    autoescape = context.eval_ctx.autoescape
    if variables or type(string) is not str:
        return _markup(autoescape, catalogue.ugettext(string)) % variables
    memos = _RENDERED.get(catalogue)
    if memos is None:
        memos = _RENDERED[catalogue] = ({}, {})
    memo = memos[bool(autoescape)]
    rendered = memo.get(string)
    if rendered is None:
        rendered = _markup(autoescape, catalogue.ugettext(string)) % {}
        if len(memo) < RENDERED_CAP:
            memo[string] = rendered
    return rendered


@pass_context
def template_ngettext(context: Context, singular: str, plural: str, num: int, /, **variables: Any) -> str:
    """``ngettext()`` and ``{% trans count=... %}``: Jinja's newstyle ngettext (``num`` is a
    variable too), on the cheaper catalogue look-up."""
    variables.setdefault("num", num)
    return _markup(context.eval_ctx.autoescape, _catalogue(context).ungettext(singular, plural, num)) % variables


def _markup(autoescape: bool, text: str) -> str:
    # As Jinja does: the msgid is template source and its translation is trusted like it; the
    # variables are escaped by Markup's % formatting.
    return Markup(text) if autoescape else text  # noqa: S704 - the catalogue's text


# Messages of the form libraries that do not pass through WTForms' translations (Flask-WTF's
# CSRF errors): the error summary and the inline errors show them translated.
LIBRARY_MESSAGES: dict[str, Any] = {
    "The CSRF token is missing.": _l("The form has expired. Please reload the page and try again."),
    "The CSRF session token is missing.": _l("The form has expired. Please reload the page and try again."),
    "The CSRF token has expired.": _l("The form has expired. Please reload the page and try again."),
    "The CSRF token is invalid.": _l("The form has expired. Please reload the page and try again."),
    "The CSRF tokens do not match.": _l("The form has expired. Please reload the page and try again."),
    "The referrer header is missing.": _l("This form was not sent from this site."),
    "The referrer does not match the host.": _l("This form was not sent from this site."),
}


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is declared (a registry's label, say); the
    page that shows it translates it with ``gettext(message)``, while the CLI prints it as is."""
    return message


def languages() -> list[str]:
    return list(current_app.config["LANGUAGES"])


def default_language() -> str:
    return str(current_app.config["DEFAULT_LANGUAGE"])


def offered(code: object) -> str | None:
    """``code`` if it is one of LANGUAGES (exactly, as the switcher and links send it), else None."""
    return code if isinstance(code, str) and code in current_app.config["LANGUAGES"] else None


def cookie_language() -> str | None:
    return offered(request.cookies.get(cookies.LANGUAGE.name(bool(current_app.config["PRODUCTION"]))))


def _account_language() -> str | None:
    # The account the login cookie already resolved to (portal.accounts.sessions), never a new
    # look-up: the error page for a database outage is rendered in a language too, and must not
    # need the database to choose it.
    # Only what is already loaded is read (the instance's own dict): after an erasure in this
    # request the rows are gone, and reading them again would fail.
    record = g.get("login_session")
    user = inspect(record).dict.get("user") if record is not None else None
    language = inspect(user).dict.get("language") if user is not None else None
    return offered(language)


def select_locale() -> Locale:
    return _locale(_select_language())


@cache  # one Locale per code (from LANGUAGES): Flask-Babel would parse the code on every request
def _locale(code: str) -> Locale:
    return Locale.parse(code)


def _select_language() -> str:
    if not has_request_context():
        return default_language()
    # The page's language depends on these headers: caches must keep one copy per value.
    g.portal_locale_negotiated = True
    # (No query string, no ?lang=: the usual case, without parsing one.)
    asked = offered(request.args.get(QUERY_PARAMETER)) if request.query_string else None
    chosen = asked or cookie_language() or _account_language()
    if chosen:
        return chosen
    return best_accepted(request.environ.get("HTTP_ACCEPT_LANGUAGE", ""), tuple(current_app.config["LANGUAGES"])) \
        or default_language()


# Accept-Language values are few (what a handful of browser set-ups send), and matching one
# against LANGUAGES always gives the same answer: remembered per value, a cap against floods.
_ACCEPTED: dict[tuple[str, tuple[str, ...]], str | None] = {}
ACCEPTED_CAP = 1024


def best_accepted(header: str, offered_codes: tuple[str, ...]) -> str | None:
    """The best of ``offered_codes`` for an Accept-Language value, as werkzeug matches it."""
    if not header:
        return None  # no preference (crawlers, scripts): the default, without parsing
    key = (header, offered_codes)
    try:
        return _ACCEPTED[key]
    except KeyError:
        pass
    best = parse_accept_header(header, LanguageAccept).best_match(offered_codes)
    if len(_ACCEPTED) < ACCEPTED_CAP:
        _ACCEPTED[key] = best
    return best


def select_timezone() -> str:
    return str(current_app.config["TIMEZONE"])


def current_language() -> str:
    locale = get_locale()
    return str(locale) if locale is not None else default_language()


@contextmanager
def language_of(user: Any = None, language: str | None = None) -> Iterator[str]:
    """Render (mail, mostly) in the recipient's language: theirs if they chose one, else the
    language of the request that causes the message, else the default."""
    code = offered(language) or offered(getattr(user, "language", None)) or current_language()
    with force_locale(code):
        yield code


# CLDR's names (Babel's ``Locale.parse(code).get_display_name(code)``, capitalised) of the languages
# with a catalogue: asking Babel loads that language's whole locale data (~4 MB for Czech) into a
# worker that may never serve a page in it. tests/test_import_weight.py checks these against Babel.
ENDONYMS = {"cs": "Čeština", "en": "English"}


@cache  # codes come from LANGUAGES, and CLDR's names do not change while the process runs
def language_name(code: str) -> str:
    """A language's name in that language ("Čeština", "English"), for the switcher."""
    if code in ENDONYMS:
        return ENDONYMS[code]
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def localtime(value: datetime | date | None, fmt: str = "datetime") -> str:
    """A UTC timestamp in TIMEZONE, formatted for the page's language: ``datetime`` (Czech
    1. 4. 2020 14:05, English Apr 1, 2020 2:05 PM), ``date`` (1. 4. 2020) or ``long`` (1. dubna
    2020). A strftime pattern (older templates) reads as ``datetime`` when it has a time in it."""
    return _localtime(value, fmt, get_locale(), None)


@pass_context
def localtime_filter(context: Context, value: datetime | date | None, fmt: str = "datetime") -> str:
    """The ``localtime`` filter: the render's locale and time zone, found once (``context``
    below), instead of two look-ups through ``g`` for every timestamp of a history list."""
    locale = context.get(LOCALE)
    if locale is None:  # not rendered by render_template: ask
        return localtime(value, fmt)
    return _localtime(value, fmt, locale, context.get(ZONE))


def _localtime(value: datetime | date | None, fmt: str, locale: Locale | None, zone: Any) -> str:
    """``localtime`` for a known locale; ``zone`` (a pytz zone) None: Flask-Babel's, asked only for a datetime."""
    if value is None:
        return ""
    if fmt.startswith("%"):
        fmt = "datetime" if "%H" in fmt else "date"
    if locale is None:  # no app context: Flask-Babel's own fallbacks
        if fmt == "long":
            return str(format_date(value, "long"))
        if fmt == "date" or not isinstance(value, datetime):
            return str(format_date(value, "medium"))
        return f"{format_date(value, 'medium')} {format_time(value, 'short')}"
    # Babel formats with the locale's own parsed CLDR patterns, as format_date/format_time do
    # (the portal sets no Flask-Babel date_formats), but without their look-ups of the locale,
    # time zone and pattern again for each call: a history row's date and time cost 26 µs.
    day: date = value
    if isinstance(value, datetime):
        if zone is None:
            zone = get_timezone()
        local = zone.normalize((value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(zone))
        day = local.date()
    if fmt == "long":
        return str(locale.date_formats["long"].apply(day, locale))
    shown = locale.date_formats["medium"].apply(day, locale)
    if fmt == "date" or not isinstance(value, datetime):
        return str(shown)
    # As format_time: the UTC value's own date picks a time-zone name variant, if one is shown.
    return f"{shown} {locale.time_formats['short'].apply(local.timetz(), locale, reference_date=value.date())}"


def vary(response: Response) -> Response:
    if g.pop("portal_locale_negotiated", False):
        if "Vary" in response.headers:
            response.vary.update(("Accept-Language", "Cookie"))  # merged with what is there
        else:  # the usual case, without parsing and re-serialising a header set
            response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def context() -> dict[str, Any]:
    if not has_request_context():
        return {}
    locale = get_locale()
    return {
        CATALOGUE: DOMAIN.get_translations(),
        LOCALE: locale,
        ZONE: get_timezone(),
        "page_lang": (str(locale) if locale is not None else default_language()).replace("_", "-"),
        "switcher_languages": [(code, language_name(code)) for code in languages()],
        "switcher_next": safe_path(request.full_path.rstrip("?") if request.method == "GET" else request.path),
    }


def without_language_parameter(path: str) -> str:
    """``path`` without ``?lang=``, which would otherwise outvote the choice just made."""
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != QUERY_PARAMETER]
    return urlunsplit(("", "", parts.path, urlencode(query), parts.fragment))


def library_message(message: object) -> Any:
    return LIBRARY_MESSAGES.get(str(message), message)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config.get("DEFAULT_LANGUAGE", "en"))
    # WTForms' own messages ("This field is required.") in the page's language.
    app.config.setdefault("WTF_I18N_ENABLED", True)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    # Flask-Babel installed Jinja's wrappers around its own look-up; these do the same, cheaper.
    app.jinja_env.globals.update(gettext=template_gettext, _=template_gettext, ngettext=template_ngettext)
    # {% trans %} blocks span lines in the templates; their msgids are the trimmed text.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.filters["library_message"] = library_message
    app.jinja_env.filters["localtime"] = localtime_filter
    app.context_processor(context)
    app.after_request(vary)
