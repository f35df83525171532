"""Flask's signed-cookie session and Flask-WTF's CSRF token, each signer set up once per key.

Flask builds a new ``URLSafeTimedSerializer`` to open the session and again to save it, and
signs with a Python wrapper around SHA-1 that sends ``hmac`` down its pure-Python path. An
anonymous page with a form (the consent banner, /login) pays both for its CSRF session. The
cookie is byte for byte what Flask writes (the same salt, key derivation, HMAC-SHA1 and JSON
tags): cookies of either read in the other, and a changed SECRET_KEY or SECRET_KEY_FALLBACKS
builds a new serializer.

Flask-WTF's ``generate_csrf`` does the same per call: a new serializer, and SHA-1 through the
pure-Python HMAC. ``csrf_token`` below signs the session's CSRF secret into the very token
``generate_csrf`` would give (same salt, key derivation and digest) for the pages answered from a
kept copy, where that signature was a tenth of the response's time. Both keep the token where
Flask-WTF documents it (``g.csrf_token``, the secret in ``session["csrf_token"]``), so whichever
runs first in a request, the other returns the same token; Flask-WTF still checks every POST.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from flask import Flask, current_app, g, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer

SERIALIZER = "portal.session_serializer"
CSRF_SERIALIZER = "portal.csrf_serializer"
CSRF_FIELD = "csrf_token"  # Flask-WTF's default WTF_CSRF_FIELD_NAME
CSRF_SALT = "wtf-csrf-token"  # Flask-WTF's salt for the signed token


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


def csrf_token() -> str:
    """This request's CSRF token, as Flask-WTF's ``generate_csrf()`` gives it."""
    app = current_app
    field = app.config.get("WTF_CSRF_FIELD_NAME", CSRF_FIELD)
    secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    if field != CSRF_FIELD or not secret:
        return str(generate_csrf())  # set up otherwise: Flask-WTF's own way, and its errors
    token = g.get(field)
    if token is not None:
        return str(token)
    cached: tuple[Any, URLSafeTimedSerializer] | None = app.extensions.get(CSRF_SERIALIZER)
    if cached is None or cached[0] != secret:
        cached = app.extensions[CSRF_SERIALIZER] = (
            secret, URLSafeTimedSerializer(secret, salt=CSRF_SALT, signer_kwargs={"digest_method": hashlib.sha1}))
    if not isinstance(session.get(field), str):
        session[field] = hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 - Flask-WTF's own secret format
    token = cached[1].dumps(session[field])
    setattr(g, field, token)
    return str(token)


def init_app(app: Flask) -> None:
    app.session_interface = SessionCookie()
