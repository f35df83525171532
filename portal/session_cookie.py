"""Flask's signed-cookie session, with its signer set up once per key instead of twice a request.

Flask builds a new ``URLSafeTimedSerializer`` to open the session and again to save it, and
signs with a Python wrapper around SHA-1 that sends ``hmac`` down its pure-Python path. An
anonymous page with a form (the consent banner, /login) pays both for its CSRF session. The
cookie is byte for byte what Flask writes (the same salt, key derivation, HMAC-SHA1 and JSON
tags): cookies of either read in the other, and a changed SECRET_KEY or SECRET_KEY_FALLBACKS
builds a new serializer.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

SERIALIZER = "portal.session_serializer"


class SessionCookie(SecureCookieSessionInterface):
    # OpenSSL's constructor itself: hmac takes its C path (Flask's lazy wrapper exists only so
    # that a FIPS build without SHA-1 can import Flask; the portal signs with SHA-1 either way).
    digest_method = staticmethod(hashlib.sha1)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        keys: tuple[Any, ...] = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        cached: tuple[tuple[Any, ...], URLSafeTimedSerializer] | None = app.extensions.get(SERIALIZER)
        if cached is not None and cached[0] == keys:
            return cached[1]
        serializer = super().get_signing_serializer(app)
        if serializer is not None:
            app.extensions[SERIALIZER] = (keys, serializer)
        return serializer


def init_app(app: Flask) -> None:
    app.session_interface = SessionCookie()
