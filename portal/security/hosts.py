"""Refuse a Host header the portal cannot even turn back into a URL."""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.urls import uri_to_iri

# A site answers to a few hosts; each answer is remembered, with a cap against a flood of made-up ones.
_USABLE: dict[tuple[str, str], bool] = {}
USABLE_CAP = 1024


def usable(scheme: str, host: str) -> bool:
    """Whether ``request.url`` can be built for this scheme and Host header.

    A malformed IDNA host (b"xn--zz", an over-long label) makes ``request.url`` raise (werkzeug
    already answers an invalid Host header with an empty host); its path and query never do (they
    are only quoted). Only the host is tried, once per value: building the whole URL was 5 % of a
    kept public page.
    """
    key = (scheme, host)
    known = _USABLE.get(key)
    if known is None:
        try:
            uri_to_iri(f"{scheme}://{host}/")
            known = True
        except (UnicodeError, ValueError):
            known = False
        if len(_USABLE) < USABLE_CAP:
            _USABLE[key] = known
    return known


def check_host() -> None:
    # Whatever first needs request.url (Flask-Login's redirect to the sign-in page, for one)
    # would raise deep inside itself: fail early, with a 400.
    if not usable(request.scheme, request.host):
        abort(400)


def init_app(app: Flask) -> None:
    app.before_request(check_host)
