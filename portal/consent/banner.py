"""The consent banner's HTML: rendered once per (registry revision, language, script root) for
a first visit, with only the request's CSRF token and return path put in per request.

The banner is the same for every visitor who has not decided yet, but rendering it (the
preferences panel with a switch per category and service) was a quarter of an anonymous page.
The shared copy holds slots instead of the two per-request values, so it can hold nothing of a
visitor's; a banner that names an earlier decision (back after a revision) is never shared.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from flask import Flask, current_app, request
from markupsafe import Markup, escape

from portal.i18n import current_language
from portal.session_cookie import csrf_token

if TYPE_CHECKING:
    from portal.consent.page import PageConsent

TEMPLATE = "consent/_banner_body.html"
CACHE = "consent.banner_html"
# Neither can come out of the template: markupsafe never produces a NUL, and no text has one.
TOKEN_SLOT = "\x00csrf-token\x00"  # noqa: S105 - a placeholder, not a secret
NEXT_SLOT = "\x00next-path\x00"
# One per revision, language and script root: a handful; the cap only stops a misconfigured proxy's
# varying SCRIPT_NAME from growing it.
MAX_ENTRIES = 64


def render(consent: PageConsent, token: str) -> Markup:
    template = current_app.jinja_env.get_template(TEMPLATE)
    return Markup(template.render(consent=consent, banner_token=token))  # noqa: S704 - autoescaped template


def banner_html(consent: PageConsent) -> Markup:
    """The banner for this request (``consent.show_banner`` is true)."""
    app = current_app
    if consent.previous is not None or app.jinja_env.auto_reload:  # auto_reload: DEBUG, templates edited
        return render(consent, csrf_token())
    key = (consent.revision, current_language(), request.script_root)
    cache: dict[tuple[str, str, str], str] = app.extensions[CACHE]
    shell = cache.get(key)
    if shell is None:
        shell = str(render(replace(consent, next_path=NEXT_SLOT), TOKEN_SLOT))
        if len(cache) < MAX_ENTRIES:
            cache[key] = shell
    filled = shell.replace(TOKEN_SLOT, str(escape(csrf_token()))).replace(NEXT_SLOT, str(escape(consent.next_path)))
    return Markup(filled)  # noqa: S704 - the shell is autoescaped output, the two values escaped here


def init_app(app: Flask) -> None:
    app.extensions[CACHE] = {}
    app.jinja_env.globals["consent_banner"] = banner_html
