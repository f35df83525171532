"""Error pages: a friendly page for every error status, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask.globals import request_ctx
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db
from portal.translate import lazy_gettext as _l

log = logging.getLogger("portal.errors")

try:  # gunicorn raises these from wsgi.input when a body is malformed
    from gunicorn.http.errors import NoMoreData, ParseException

    BODY_ERRORS: tuple[type[BaseException], ...] = (ParseException, NoMoreData)
except ImportError:  # pragma: no cover - gunicorn is a runtime dependency
    BODY_ERRORS = ()

MESSAGES: dict[int, tuple[Any, Any]] = {
    400: (_l("Bad request"), _l("The request could not be understood. Please go back and try again.")),
    403: (_l("Forbidden"), _l("You do not have permission to open this page.")),
    404: (_l("Page not found"), _l("There is no page at this address. Check the link or start from the home page.")),
    405: (_l("Method not allowed"), _l("This page cannot be used that way.")),
    413: (_l("Too large"), _l("What you sent is larger than this portal accepts.")),
    429: (
        _l("Too many attempts"),
        _l("You have tried this too often in a short time. Please wait a moment and try again."),
    ),
    500: (_l("Something went wrong"), _l("An unexpected error happened on our side. Please try again later.")),
    503: (_l("Temporarily unavailable"), _l("The portal is briefly unavailable. Please try again in a few minutes.")),
}

# Seconds a visitor is asked to wait when the database is unreachable (a restart, a failover).
DATABASE_RETRY_AFTER = 5

COOKIES_REQUIRED = _l(
    "Your browser did not send back our cookie. Cookies are required to sign in and to submit "
    "forms on this portal: we use a session cookie to keep you logged in and to protect forms. "
    "Please allow cookies for this site and try again."
)


def render_error(code: int, message: Any = None, retry_after: int | None = None) -> tuple[Response | str, int]:
    title, default = MESSAGES.get(code, (_l("Error %(code)s", code=code), _l("The request could not be completed.")))
    title, message = str(title), str(message or default)
    response: Response | str
    if request.path == "/healthz" or request.accept_mimetypes.best == "application/json":
        response = jsonify({"status": "error", "code": code, "message": message})
    elif request_ctx.url_adapter is None:
        # The Host header could not even be routed (a DNS label over 63 characters, say):
        # templates cannot build URLs, and the client's mistake is not our error to log.
        response = _bare_page(code, title, message)
    else:
        try:
            response = render_template(
                "errors/error.html", code=code, title=title, message=message, retry_after=retry_after
            )
        except Exception:
            # The error page itself failed (database down under the base template, say): a bare
            # page still beats a traceback.
            log.exception("Error page %s could not be rendered", code)
            response = _bare_page(code, title, message)
    return response, code


def _bare_page(code: int, title: str, message: str) -> Response:
    return make_response(
        f"<!doctype html><html lang=en><title>{escape(title)}</title><h1>{escape(title)}</h1>"
        f"<p>{escape(message)}</p></html>",
        code,
    )


def handle_http_exception(error: HTTPException) -> ResponseReturnValue:
    code = error.code or 500
    if code >= 500:
        return handle_server_error(error)
    retry_after = getattr(error, "retry_after", None)  # the per-account throttle's wait
    if code == 429 and retry_after is None:
        limit = getattr(error, "limit", None)
        if limit is not None:
            retry_after = int(limit.limit.get_expiry())
    # Our own exceptions' descriptions are written for people; Werkzeug's generic ones are not.
    message = error.description if getattr(error, "retry_after", None) is not None else None
    response, status = render_error(code, message, retry_after=retry_after)
    if isinstance(response, str):
        response = make_response(response, status)
    # Keep headers an exception carries (Allow on 405, Retry-After on 503 and so on).
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers.setdefault(name, value)
    return response, status


def handle_csrf_error(error: CSRFError) -> ResponseReturnValue:
    if not request.cookies:
        return render_error(400, COOKIES_REQUIRED)
    return render_error(
        400, _l("This form has expired or was not sent from this site. Please reload the page and try again.")
    )


def database_unavailable(error: BaseException) -> bool:
    """The database refused or dropped the connection: an outage to wait out, not a bug."""
    return isinstance(error, OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated)


def handle_server_error(error: Exception) -> ResponseReturnValue:
    db.session.rollback()
    original = getattr(error, "original_exception", None) or error
    if isinstance(original, BODY_ERRORS):
        # The server could not read the request body (a malformed chunked encoding, say):
        # the client's fault, found only when a form first touches the body.
        log.info("Unreadable request body on %s %s: %s", request.method, request.path, type(original).__name__)
        return render_error(400, _l("The request body could not be read. Please try again."))
    if database_unavailable(original):
        # A PostgreSQL restart: 503 and Retry-After, as for any brief outage. The pool's pre-ping
        # replaces the dead connections on the next requests. The exception text can quote a
        # statement's parameters, so only its type is logged.
        log.warning("Database unavailable on %s %s (%s)", request.method, request.path,
                    type(getattr(original, "orig", None) or original).__name__)
        response, status = render_error(503)
        if isinstance(response, str):
            response = make_response(response, status)
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response, status
    if not isinstance(original, HTTPException) or (original.code or 500) >= 500:
        log.error("Unhandled error on %s %s", request.method, request.path, exc_info=original)
    code = getattr(error, "code", 500) or 500
    return render_error(code if code in (500, 501, 502, 503, 504) else 500)


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(Exception, handle_server_error)
