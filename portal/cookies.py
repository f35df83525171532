"""Every cookie the portal sets: name, prefix, flags and lifetime, in one place.

In production each name takes the ``__Host-`` prefix, which browsers only accept with Secure,
Path=/ and no Domain: a sibling subdomain can neither set nor shadow it. All are HttpOnly (no
script of ours reads them) and SameSite=Lax. The cookie policy page lists them from here, so the
page and the code cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from portal.translate import lazy_gettext as _l
from portal.translate import lazy_ngettext


@dataclass(frozen=True)
class Cookie:
    base_name: str  # development name; production adds the __Host- prefix
    production_name: str
    purpose: Any  # what a person reads on the cookie policy page (a lazy translation)

    def name(self, production: bool) -> str:
        return self.production_name if production else self.base_name

    def set(self, response: Response, value: str, *, production: bool, max_age: int | None) -> None:
        response.set_cookie(self.name(production), value, max_age=max_age, path="/", secure=production,
                            httponly=True, samesite="Lax")

    def delete(self, response: Response, *, production: bool) -> None:
        response.delete_cookie(self.name(production), path="/", secure=production, httponly=True, samesite="Lax")


LOGIN = Cookie("portal_sid", "__Host-sid",
               _l("Keeps you signed in (a random session id; the server checks it on every request)."))
# Flask's own signed session cookie: it carries only the CSRF token and one-off messages.
FORMS = Cookie("session", "__Host-session",
               _l("Protects forms against cross-site forgery and carries one-off messages."))
CONSENT = Cookie("portal_consent", "__Host-consent",
                 _l("Remembers your cookie choice, so we do not ask on every page."))
# Set only when the person picks a language with the switcher; strictly necessary for that choice.
LANGUAGE = Cookie("portal_lang", "__Host-lang", _l("Remembers the language you chose with the language switcher."))
LANGUAGE_MAX_AGE = 365 * 86400
# Set at sign-in (portal.mfa.browsers): a random id, so a sign-in from a browser the account has
# never used can be told to its owner. No location look-up, no fingerprinting.
DEVICE = Cookie(
    "portal_device", "__Host-device",
    _l("Recognises this browser at sign-in, so we can warn you of sign-ins from browsers you have not used."),
)
DEVICE_MAX_AGE = 400 * 86400  # the longest lifetime browsers allow (RFC 6265bis)

ALL = (LOGIN, FORMS, CONSENT, LANGUAGE, DEVICE)


def expire_foreign(response: Response, targets: list[tuple[str, str | None]]) -> None:
    """Expire cookies the portal did not set (a refused tracker's), each at (name, domain)."""
    for name, domain in targets:
        response.delete_cookie(name, path="/", domain=domain)


def flask_session_settings(production: bool) -> dict[str, Any]:
    """Flask's keys for its session cookie, from the same declaration."""
    return {
        "SESSION_COOKIE_NAME": FORMS.name(production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_PATH": "/",
    }


def lifetimes(config: Mapping[str, Any]) -> dict[Cookie, Any]:
    """How long each lasts, in words, for the cookie policy page (lazy: read in the page's language)."""
    hours = round(int(config.get("SESSION_MAX_AGE", 86400)) / 3600)
    days = int(config.get("CONSENT_MAX_AGE_DAYS", 182))
    return {
        LOGIN: lazy_ngettext("%(num)d hour at most (ends at logout)", "%(num)d hours at most (ends at logout)", hours),
        FORMS: _l("until you close the browser"),
        CONSENT: lazy_ngettext("%(num)d day", "%(num)d days", days),
        LANGUAGE: lazy_ngettext("%(num)d day", "%(num)d days", LANGUAGE_MAX_AGE // 86400),
        DEVICE: lazy_ngettext("%(num)d day", "%(num)d days", DEVICE_MAX_AGE // 86400),
    }
