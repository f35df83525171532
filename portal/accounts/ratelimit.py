"""Per-IP limits on the account forms (login, signup, reset, resend-confirmation).

Each app gets its own Flask-Limiter instance. The shared ``portal.extensions.limiter`` is one
object for the whole process: Flask-Limiter keeps the storage, key prefix and "storage is dead"
flag on the Limiter itself, so a second ``create_app`` in the same process (tests, benchmarks)
would silently swap the first app's counters for its own. A limiter per app keeps every app's
counters where its ``RATELIMIT_STORAGE_URI`` says, and two apps on one Redis share them.

Limits wrap the registered view functions, so the check runs after CSRF validation and before
the view: a refused request never reaches bcrypt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, current_app, render_template
from flask_limiter import Limiter, RateLimitExceeded

from portal.security.client import client_ip

EXTENSION_KEY = "accounts.limiter"

# endpoint -> (setting holding the rate, what the refusal page tells the person)
LIMITED_ENDPOINTS: dict[str, tuple[str, str]] = {
    "accounts.login": (
        "LOGIN_RATE_LIMIT",
        "There have been too many sign-in attempts from your network in a short time. "
        "This protects your account against password guessing.",
    ),
    "accounts.signup": ("SIGNUP_RATE_LIMIT", "Too many accounts were requested from your network in a short time."),
    "accounts.reset_request": ("RESET_RATE_LIMIT", "Too many password reset emails were requested from your network."),
    "accounts.resend_confirmation": (
        "RESET_RATE_LIMIT",
        "Too many confirmation emails were requested from your network.",
    ),
    # These check the current password: without a limit, a stolen session could guess it.
    "accounts.change_password": ("LOGIN_RATE_LIMIT", "There have been too many password checks from your network."),
    "accounts.change_email": ("LOGIN_RATE_LIMIT", "There have been too many password checks from your network."),
}


def _rate(setting: str) -> Callable[[], str]:
    def provider() -> str:
        return str(current_app.config[setting])

    return provider


def limiter_for(app: Flask) -> Limiter:
    return app.extensions[EXTENSION_KEY]


def handle_rate_limited(error: RateLimitExceeded):  # type: ignore[no-untyped-def]
    """The 429 page for account forms: what happened, how long to wait, what else to do."""
    from flask import request

    _, message = LIMITED_ENDPOINTS.get(request.endpoint or "", ("", "You have tried this too often."))
    # The time left in the current window (what Retry-After says), not the window's length.
    current = limiter_for(current_app).current_limit
    retry_after = max(1, math.ceil(current.window.reset_time - time.time())) if current is not None else None
    response = current_app.make_response(
        (
            render_template(
                "accounts/rate_limited.html", message=message, retry_after=retry_after, endpoint=request.endpoint
            ),
            429,
        )
    )
    response.headers["Retry-After"] = str(retry_after or 60)
    return response


def init_app(app: Flask) -> None:
    # No X-RateLimit-*/Retry-After on ordinary answers: Flask-Limiter would overwrite the
    # per-account throttle's shorter Retry-After with its window, and the counters tell a
    # visitor nothing useful. The refusal sets its own Retry-After (handle_rate_limited).
    limiter = Limiter(key_func=client_ip, headers_enabled=False)
    limiter.init_app(app)
    app.extensions[EXTENSION_KEY] = limiter
    for endpoint, (setting, _message) in LIMITED_ENDPOINTS.items():
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(_rate(setting), methods=["POST"])(view)
