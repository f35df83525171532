"""Security headers for every response, with a per-request CSP nonce.

Blueprints that legitimately need a third-party host (the consent system, once a visitor has
granted a category) call ``allow_source`` during the request; nothing else widens the policy.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, g, request

from portal import cookies

BASE_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-src": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def csp_nonce() -> str:
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def allow_source(directive: str, *sources: str) -> None:
    """Widen one CSP directive for the current response only."""
    extra: dict[str, list[str]] = g.setdefault("csp_extra", {})
    extra.setdefault(directive, [])
    for source in sources:
        if source not in extra[directive]:
            extra[directive].append(source)


_NONCE = "\x00nonce\x00"
# The policy of a response nothing widened, with a slot for its nonce: built once, not per request.
_BASE_CSP = "; ".join(
    f"{name} {' '.join(values + ([_NONCE] if name in ('script-src', 'style-src') else []))}"
    for name, values in BASE_POLICY.items()
)
_FIXED_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)


def content_security_policy() -> str:
    nonce = f"'nonce-{csp_nonce()}'"
    if not g.get("csp_extra"):
        return _BASE_CSP.replace(_NONCE, nonce)
    policy = {name: list(values) for name, values in BASE_POLICY.items()}
    policy["script-src"].append(nonce)
    policy["style-src"].append(nonce)
    for directive, sources in g.get("csp_extra", {}).items():
        current = [s for s in policy.get(directive, []) if s != "'none'"]
        policy[directive] = current + [s for s in sources if s not in current]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in policy.items())


def apply_headers(response: Response) -> Response:
    headers = response.headers
    # One pass over the headers, not a look-up per header below: werkzeug answers a missing
    # header by raising (and catching) an exception.
    present = {name.lower() for name, _ in headers.items()}
    if "content-security-policy" in present:
        headers["Content-Security-Policy"] = content_security_policy()
    else:
        headers.add("Content-Security-Policy", content_security_policy())
    for name, value in _FIXED_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    if current_app.config["PRODUCTION"] and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if "cache-control" in present:
        return response
    if "set-cookie" in present or _personal():
        # Personal pages and cookie-setting responses are never stored, by any cache.
        headers.add("Cache-Control", "no-store")
    elif response.mimetype == "text/html":
        # Public pages: the browser may keep them (so back/forward cache works) but asks again
        # before reusing one, and no shared cache stores them (the banner and CSRF token vary).
        headers.add("Cache-Control", "private, no-cache")
    return response


def _personal() -> bool:
    """A signed-in person's request: whatever it answers may be about them."""
    from flask_login import current_user

    # The login cookie is the only way in (portal.accounts.sessions): without it nobody is
    # signed in, and asking Flask-Login would build an anonymous user for every public page.
    if cookies.LOGIN.name(bool(current_app.config["PRODUCTION"])) not in request.cookies:
        return False
    return bool(getattr(current_user, "is_authenticated", False))


def init_app(app: Flask) -> None:
    from portal.security import hosts

    hosts.init_app(app)
    app.after_request(apply_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
