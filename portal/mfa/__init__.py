"""Passkeys and two-step sign-in: WebAuthn, authenticator-app codes, recovery codes,
re-authentication for sensitive actions, and the notices that go with them."""

from __future__ import annotations

from typing import Any

from flask import Flask

from portal import ratelimit
from portal.translate import lazy_gettext as _l

TOO_MANY = _l("There have been too many sign-in attempts from your network in a short time.")

# endpoint -> (setting or literal rate per client IP, what the refusal page says)
LIMITS: dict[str, tuple[str, Any]] = {
    # Codes and passkey answers spend the same per-IP budget setting as passwords.
    "mfa.verify": ("LOGIN_RATE_LIMIT", TOO_MANY),
    "mfa.login_passkey": ("LOGIN_RATE_LIMIT", TOO_MANY),
    "mfa.confirm": ("LOGIN_RATE_LIMIT", _l("There have been too many checks from your network in a short time.")),
    # Asked once per sign-in page load (conditional UI): generous, but not unbounded.
    "mfa.login_options": ("60 per minute", TOO_MANY),
}


def overview(user: Any) -> dict[str, Any]:
    """What the security page shows about the account's second factors (a template global).

    Two queries where four would say the same: the passkeys, then one row with whether an
    authenticator app is confirmed (with a passkey, a second factor: ``factors.has_second_factor``)
    and how many recovery codes are left (shown only when there is a factor)."""
    from portal.mfa import panel

    return panel.overview(user.id)


def init_app(app: Flask) -> None:
    from portal import mail, templating
    from portal.mfa import account_views, audit, browsers, models, notices, personal_data, views  # noqa: F401
    from portal.mfa.cli import cli
    from portal.mfa.staff import second_factor_gate
    from portal.staff import access

    app.register_blueprint(views.bp)
    app.register_blueprint(account_views.bp)
    app.register_blueprint(cli)
    for endpoint, (rate, message) in LIMITS.items():
        ratelimit.limit(app, endpoint, rate, message)
    mail.register_kinds(app, notices.KINDS)
    personal_data.register(app)
    audit.init_app(app)
    access.add_gate(app, second_factor_gate)
    browsers.init_app(app)
    app.add_template_global(overview, "mfa_overview")
    templating.register_fragment(app, "account.security", "mfa/_security.html")
    templating.register_fragment(app, "login.after", "mfa/_login_passkey.html")
