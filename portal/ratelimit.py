"""Per-IP rate limits, with one Flask-Limiter per app.

Flask-Limiter keeps its storage, key prefix and "storage is dead" flag on the Limiter object, so
a single module-level instance bound to several apps in one process (tests, benchmarks) silently
mixes their counters. Each app therefore gets its own limiter in ``init_app``, and areas declare
their limits per endpoint with ``limit(app, ...)`` from their own ``init_app``. Two apps on one
Redis still share counters, because the key is built from the same prefix, route and client IP.

Limits wrap the registered view functions, so the check runs after CSRF validation and before
the view: a refused request never reaches bcrypt or the database.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from flask import Flask, current_app, render_template, request
from flask_limiter import Limiter, RateLimitExceeded

from portal.security.client import client_ip

EXTENSION_KEY = "portal.limiter"
MESSAGES_KEY = "portal.limiter.messages"
DEFAULT_MESSAGE = "You have tried this too often in a short time."


def limiter_for(app: Flask) -> Limiter:
    return app.extensions[EXTENSION_KEY]


def _rate(rate: str) -> str | Callable[[], str]:
    if not rate.isupper():
        return rate  # a literal such as "30 per minute"

    # A setting name, read at request time so operators (and tests) can change it.
    def provider() -> str:
        return str(current_app.config[rate])

    return provider


def limit(app: Flask, endpoint: str, rate: str, message: str, methods: Iterable[str] = ("POST",)) -> None:
    """Limit ``endpoint`` per client IP; ``rate`` is a setting name or a literal rate."""
    view = app.view_functions[endpoint]
    app.view_functions[endpoint] = limiter_for(app).limit(_rate(rate), methods=list(methods))(view)
    app.extensions[MESSAGES_KEY][endpoint] = message


def handle_rate_limited(error: RateLimitExceeded):  # type: ignore[no-untyped-def]
    """A refusal says what happened, how long to wait and what else to do."""
    message = current_app.extensions[MESSAGES_KEY].get(request.endpoint or "", DEFAULT_MESSAGE)
    # The time left in the current window (what Retry-After says), not the window's length.
    current = limiter_for(current_app).current_limit
    retry_after = max(1, math.ceil(current.window.reset_time - time.time())) if current is not None else 60
    if request.accept_mimetypes.best == "application/json":
        response = current_app.make_response(({"status": "error", "code": 429, "message": message}, 429))
    else:
        body = render_template(
            "errors/rate_limited.html", message=message, retry_after=retry_after, endpoint=request.endpoint
        )
        response = current_app.make_response((body, 429))
    response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask) -> None:
    # No X-RateLimit-*/Retry-After on ordinary answers: Flask-Limiter would overwrite the
    # per-account throttle's shorter Retry-After with its window, and the counters tell a
    # visitor nothing useful. A refusal sets its own Retry-After (handle_rate_limited).
    limiter = Limiter(key_func=client_ip, headers_enabled=False)
    limiter.init_app(app)
    app.extensions[EXTENSION_KEY] = limiter
    app.extensions[MESSAGES_KEY] = {}
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
