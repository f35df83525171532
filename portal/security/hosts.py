"""Refuse a Host header the portal cannot even turn back into a URL."""

from __future__ import annotations

from flask import Flask, abort, request


def check_host() -> None:
    # A malformed IDNA host (b"xn--zz", an over-long label) makes request.url raise deep inside
    # whatever first needs it (Flask-Login's redirect to the sign-in page, for one): fail early.
    try:
        request.url  # noqa: B018 - computing it is the check
    except (UnicodeError, ValueError):
        abort(400)


def init_app(app: Flask) -> None:
    app.before_request(check_host)
