"""The public pages (home, sign-in, sign-up, password reset, privacy policy, cookie page) for a
visitor who brings nothing of their own: rendered once per address and language, then served
with only this response's CSRF token and CSP nonce put in.

Such a page is the same for every visitor in the same situation, and rendering it (templates,
forms, the consent context) was most of its time. A page is kept or served only when the request
carries no cookie but Flask's session, the language choice and a consent decision, the session
holds nothing but the CSRF secret (no flashed message, no sign-in, no second step), nobody is
signed in, the method is GET and templates are not reloaded. Everything else the page reads is
in the key: address with query string, host, script root, language, Global Privacy Control, the
consent registry's revision and what the visitor's decision grants (a decision for an older
revision, and the cookie page, which shows the decision itself, get a page of their own).

A kept copy holds slots where the token and nonce were, so it holds nothing of the visitor whose
request rendered it; everything per request (the session cookie with its CSRF secret, security
headers and CSP, Vary, metrics) still runs for each response.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request, session
from flask_login import current_user
from markupsafe import escape

from portal import cookies
from portal.consent import page as consent_page
from portal.consent import registry, state
from portal.i18n import current_language
from portal.security.headers import csp_nonce
from portal.session_cookie import csrf_token

ENDPOINTS = frozenset({
    "main.home", "accounts.login", "accounts.signup", "accounts.reset_request",
    "privacy.policy_page", "consent.cookies",
})
CACHE = "portal.page_cache"
KEY = "page_cache_key"
# No page text has a NUL, and markupsafe never writes one.
TOKEN_SLOT = "\x00csrf-token\x00"  # noqa: S105 - a placeholder, not a secret
NONCE_SLOT = "\x00csp-nonce\x00"
# One per page, language, decision and query string people use: a few dozen. Reaching the cap
# (query strings or hosts someone varies on purpose) empties it.
MAX_ENTRIES = 256
MAX_PATH = 300
STORED_HEADERS = frozenset({"content-type", "content-length"})
FLASHES = 'class="flashes"'  # base.html's container of flashed messages

Key = tuple[str, str, str, str, bool, str, "tuple[tuple[str, ...], tuple[str, ...]] | None"]


def _key() -> Key | None:
    """This request's page key, or None when its page may differ from a stranger's."""
    app, req = current_app, request
    if req.method != "GET" or req.endpoint not in ENDPOINTS or app.jinja_env.auto_reload:
        return None
    production = bool(app.config["PRODUCTION"])
    session_cookie = app.config["SESSION_COOKIE_NAME"]
    names = set(req.cookies)
    if not names <= {session_cookie, cookies.LANGUAGE.name(production), state.cookie_name(production)}:
        return None  # signed in, a remembered device, anything else: rendered for this request
    if session_cookie in names and set(session) - {"csrf_token"}:
        return None  # a flashed message, a second step under way, ...
    # Nobody is signed in here: the login cookie (the only way in, portal.accounts.sessions) and
    # Flask-Login's remember cookie are not among the names, and the session holds no user id.
    # Asking Flask-Login anyway would build an anonymous user for every kept page.
    full_path = req.full_path
    if len(full_path) > MAX_PATH:
        return None
    choice = None
    if state.cookie_name(production) in names:
        # A consent decision: pages differ only by what it grants (the tags). The cookie page
        # shows the decision itself, and a banner back after a revision names its date.
        decision = state.current_decision()
        if decision is None or req.endpoint == "consent.cookies":
            return None
        choice = (tuple(sorted(decision.granted)), tuple(sorted(decision.off)))
    return (req.host, req.script_root, full_path, current_language(), consent_page.gpc_signal(),
            registry.revision(), choice)


def serve() -> Response | None:
    """before_request, the last one: the kept page with this response's token and nonce."""
    key = g.page_cache_key = _key()
    shell = current_app.extensions[CACHE].get(key) if key is not None else None
    if shell is None:
        return None
    g.page_cache_hit = True
    body = shell.replace(NONCE_SLOT, csp_nonce())
    if TOKEN_SLOT in body:
        body = body.replace(TOKEN_SLOT, str(escape(csrf_token())))
    return Response(body, mimetype="text/html")


def keep(response: Response) -> Response:
    """after_request, run first: keep a page rendered for a request that had a key."""
    key = g.pop(KEY, None)
    if key is None or g.pop("page_cache_hit", False):
        return response
    cache: dict[Key, str] = current_app.extensions[CACHE]
    if (response.status_code != 200 or response.mimetype != "text/html"
            or response.is_streamed or any(name.lower() not in STORED_HEADERS for name, _ in response.headers.items())):
        return response
    if set(session) - {"csrf_token"} or current_user.is_authenticated:
        return response  # the view signed someone in or kept something for them
    shell = response.get_data(as_text=True)
    if FLASHES in shell:
        return response  # a message the view flashed and showed at once: this visitor's
    if nonce := g.get("csp_nonce"):
        shell = shell.replace(nonce, NONCE_SLOT)
    if token := g.get("csrf_token"):
        shell = shell.replace(str(escape(token)), TOKEN_SLOT)
    if len(cache) >= MAX_ENTRIES:
        cache.clear()  # someone varying query strings or hosts: start afresh, the pages people use come back
    cache[key] = shell
    return response


def init_app(app: Flask) -> None:
    """After every other area: ``serve`` must be the last before_request hook (the host check,
    CSRF, the sign-in and the consent CSP have run) and ``keep`` the first after_request one
    (it sees the page as the view returned it)."""
    app.extensions[CACHE] = {}
    app.before_request(serve)
    app.after_request(keep)
