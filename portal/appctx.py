"""The application object behind ``current_app``, where a real object is needed.

Signals are sent with the app as sender and background threads keep a reference to it: both need
the object itself, not the context-local proxy. Flask's documentation ("Notes On Proxies") names
``_get_current_object()`` as the way; it lives here, once.
"""

from __future__ import annotations

from flask import Flask, current_app


def current_app_object() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]
