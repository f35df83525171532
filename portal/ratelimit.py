"""Per-IP rate limits, with one Flask-Limiter per app.

Flask-Limiter keeps its storage, key prefix and "storage is dead" flag on the Limiter object, so
a single module-level instance bound to several apps in one process (tests, benchmarks) silently
mixes their counters. Each app therefore gets its own limiter in ``init_app``, and areas declare
their limits per endpoint with ``limit(app, ...)`` from their own ``init_app``. Two apps on one
Redis still share counters, because the key is built from the same prefix, route and client IP.

Limits wrap the registered view functions, so the check runs after CSRF validation and before
the view: a refused request never reaches bcrypt or the database.

Redis trouble must neither stall the site nor multiply the limits: the Redis client gives up
within a fraction of a second (a hung server used to block each request for ~36 s), and while
Flask-Limiter counts in process memory instead, each worker enforces only its share.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many

from portal.ratelimit_share import per_process
from portal.security.client import client_ip
from portal.translate import lazy_gettext as _l

log = logging.getLogger("portal.ratelimit")

EXTENSION_KEY = "portal.limiter"
MESSAGES_KEY = "portal.limiter.messages"
RATES_KEY = "portal.limiter.rates"
METHODS_KEY = "portal.limiter.methods"
# Flask-Limiter's settings for limits on every request rather than on one view.
APP_WIDE_SETTINGS = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")
DEFAULT_MESSAGE = _l("You have tried this too often in a short time.")

# Seconds the Redis client waits to connect and for each reply. Redis on the LAN answers in
# well under a millisecond; a stopped or unreachable one must cost a request a fraction of a
# second, not redis-py's default (no timeout, three retries with back-off).
REDIS_TIMEOUT = 0.25
# Plain Redis only: sentinel and cluster storages take their options differently. Options in the
# URI's query string (?socket_timeout=1) still win over these.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def limiter_for(app: Flask) -> Limiter:
    return app.extensions[EXTENSION_KEY]


def storage_options(uri: str) -> dict[str, Any]:
    """Keyword arguments for the limiter's storage: short timeouts and no retries for Redis."""
    if not uri.startswith(REDIS_SCHEMES):
        return {}
    # redis-py (about 4 MB) only for a Redis store, not with memory:// counters.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {
        "socket_connect_timeout": REDIS_TIMEOUT,
        "socket_timeout": REDIS_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
    }


def counting_in_memory(app: Flask) -> bool:
    """Whether the shared store is down and this process counts on its own (the fallback)."""
    # Flask-Limiter has no public accessor for this flag; tests pin the behaviour.
    return bool(getattr(limiter_for(app), "_storage_dead", False))


def effective_rate(app: Flask, rate: str) -> str:
    """The rate this process enforces now: ``rate`` (a setting name or a literal) or its share."""
    # A setting name is read at request time so operators (and tests) can change it.
    configured = str(app.config[rate]) if rate.isupper() else rate
    if counting_in_memory(app):
        return per_process(configured, int(app.config.get("WORKER_PROCESSES", 1)))
    return configured


def _rate(rate: str) -> Callable[[], str]:
    def provider() -> str:
        return effective_rate(current_app, rate)

    return provider


def limit(app: Flask, endpoint: str, rate: str, message: Any, methods: Iterable[str] = ("POST",)) -> None:
    """Limit ``endpoint`` per client IP; ``rate`` is a setting name or a literal rate."""
    view = app.view_functions[endpoint]
    limited: Callable[..., Any] = limiter_for(app).limit(_rate(rate), methods=list(methods))(view)
    app.view_functions[endpoint] = limited
    app.extensions[MESSAGES_KEY][endpoint] = message
    app.extensions[RATES_KEY][endpoint] = rate
    app.extensions[METHODS_KEY].setdefault(endpoint, set()).update(m.upper() for m in methods)


def seconds_until_allowed(app: Flask, endpoint: str) -> int:
    """Seconds until a request to ``endpoint`` would pass every one of its limits again.

    Flask-Limiter reports the first limit that refused (say, the minute one), but when the hour's
    budget is spent too, the minute's reset lets nothing through: the real wait is the latest
    reset among all exhausted limits.
    """
    limiter = limiter_for(app)
    current = limiter.current_limit
    if current is None:
        return 60
    resets = [current.window.reset_time]
    rate = app.extensions[RATES_KEY].get(endpoint)
    if rate is not None:
        try:
            for item in parse_many(effective_rate(app, rate)):
                stats = limiter.limiter.get_window_stats(item, *current.request_args)
                if stats.remaining <= 0:
                    resets.append(stats.reset_time)
        except Exception as error:  # the store failed just now: the refusing limit's reset still holds
            log.warning("Rate limit store failed while computing Retry-After (%s)", type(error).__name__)
    return max(1, math.ceil(max(resets) - time.time()))


def handle_rate_limited(error: RateLimitExceeded) -> ResponseReturnValue:
    """A refusal says what happened, how long to wait and what else to do."""
    message = str(current_app.extensions[MESSAGES_KEY].get(request.endpoint or "", DEFAULT_MESSAGE))
    # The time until an attempt is really allowed again, not the window's length.
    retry_after = seconds_until_allowed(current_app, request.endpoint or "")
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
    limiter = Limiter(
        key_func=client_ip,
        headers_enabled=False,
        storage_options=storage_options(str(app.config.get("RATELIMIT_STORAGE_URI", ""))),
    )
    app_wide = any(app.config.get(name) for name in APP_WIDE_SETTINGS)
    hooks = _hooks(app)
    limiter.init_app(app)
    if not app_wide:
        _restore_hooks(app, hooks)
        limiter.request_filter(_no_limit_applies)
    app.extensions[EXTENSION_KEY] = limiter
    app.extensions[MESSAGES_KEY] = {}
    app.extensions[RATES_KEY] = {}
    app.extensions[METHODS_KEY] = {}
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)


Hooks = tuple[dict[Any, list[Any]], ...]


def _tables(app: Flask) -> Hooks:
    tables: Hooks = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    return tables


def _hooks(app: Flask) -> Hooks:
    return tuple({key: list(funcs) for key, funcs in table.items()} for table in _tables(app))


def _restore_hooks(app: Flask, hooks: Hooks) -> None:
    """Take out the request hooks Flask-Limiter's ``init_app`` added.

    Its before_request hook checks only app-wide limits (default, application and meta limits:
    ``APP_WIDE_SETTINGS``); a limit on a view is checked by the wrapper ``limit`` puts around the
    view, after CSRF validation. With no app-wide limit configured, the hooks searched an empty
    set of limits on every request (about 9 % of a kept public page) and the after_request one
    had no header to add (``headers_enabled=False``). tests/test_accounts_ratelimit.py shows both ways.
    """
    for table, was in zip(_tables(app), hooks, strict=True):
        for key in list(table):
            table[key] = [func for func in table[key] if func in was.get(key, ())]
            if not table[key] and key not in was:
                del table[key]


def _no_limit_applies() -> bool:
    """Every limit is per endpoint and method (``limit``): a page view nobody limits skips the
    limiter's own search through its limits, about a tenth of an anonymous page's time."""
    limited = current_app.extensions[METHODS_KEY].get(request.endpoint or "")
    return not limited or request.method not in limited
