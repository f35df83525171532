"""Accounts: signup, confirmation, login sessions, password reset, account settings."""

from typing import Any

from flask import Flask

from portal import ratelimit, templating
from portal.translate import lazy_gettext as _l

TOO_MANY_CHECKS = _l("There have been too many password checks from your network.")

# endpoint -> (setting holding the per-IP rate, what the refusal page tells the person)
LIMITS: dict[str, tuple[str, Any]] = {
    "accounts.login": (
        "LOGIN_RATE_LIMIT",
        _l("There have been too many sign-in attempts from your network in a short time. "
           "This protects your account against password guessing."),
    ),
    "accounts.signup": ("SIGNUP_RATE_LIMIT", _l("Too many accounts were requested from your network in a short time.")),
    "accounts.reset_request": (
        "RESET_RATE_LIMIT", _l("Too many password reset emails were requested from your network.")
    ),
    "accounts.resend_confirmation": (
        "RESET_RATE_LIMIT",
        _l("Too many confirmation emails were requested from your network."),
    ),
    # These check the current password: without a limit, a stolen session could guess it.
    "accounts.change_password": ("LOGIN_RATE_LIMIT", TOO_MANY_CHECKS),
    "accounts.change_email": ("LOGIN_RATE_LIMIT", TOO_MANY_CHECKS),
}


MAIL_KINDS = {
    "account.confirm": "confirm the address",
    "account.signup-exists": "sign-up with a taken address",
    "account.reset": "password reset",
    "account.password-changed": "password changed notice",
    "account.email-change": "confirm a new address",
    "account.email-taken": "new address already in use",
    "account.email-changed": "address changed notice",
    "account.deleted": "account deleted notice",
}


def init_app(app: Flask) -> None:
    from portal import mail
    from portal.accounts import audit, personal_data, sessions
    from portal.accounts.cli import cli
    from portal.accounts.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(cli)
    for endpoint, (setting, message) in LIMITS.items():
        ratelimit.limit(app, endpoint, setting, message)
    sessions.init_app(app)
    audit.init_app(app)
    templating.register_fragment(app, "nav", "accounts/_nav.html")
    personal_data.register(app)
    mail.register_kinds(app, MAIL_KINDS)
