"""Absolute links for emails, built from the routes themselves with BASE_URL as the origin.

Mail is rendered by requests and by delivery workers alike, often with no request to borrow a
host from; Flask's ``url_for(..., _external=True)`` would need SERVER_NAME, which also changes
how requests are routed. Binding the URL map to BASE_URL builds the same URLs without that, and a
renamed route breaks the build here (a BuildError in tests) instead of silently breaking a link.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import MapAdapter

_ADAPTER_KEY = "portal.links.adapter"


def _adapter() -> MapAdapter:
    app = current_app
    cached = app.extensions.get(_ADAPTER_KEY)
    base = str(app.config["BASE_URL"])
    if cached is None or cached[0] != base:
        parts = urlsplit(base)
        adapter = app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
        cached = app.extensions[_ADAPTER_KEY] = (base, adapter)
    return cached[1]


def external_url(endpoint: str, **values: Any) -> str:
    """``https://portal.example/reset-password/<token>`` for ``external_url("accounts.reset_password", token=...)``."""
    return _adapter().build(endpoint, values, force_external=True)
