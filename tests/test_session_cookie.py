"""The session cookie (portal.session_cookie) is Flask's own, only set up once per key."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import ValidationError

from portal.session_cookie import SERIALIZER, SessionCookie


def _flask_serializer(app: Flask) -> Any:
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return serializer


def test_the_cookie_reads_and_is_read_by_flasks_own(app):
    ours = app.session_interface
    assert isinstance(ours, SessionCookie)
    data = {"csrf_token": "a" * 40, "n": 3}
    assert _flask_serializer(app).loads(ours.get_signing_serializer(app).dumps(data)) == data
    assert ours.get_signing_serializer(app).loads(_flask_serializer(app).dumps(data)) == data


def test_one_serializer_per_key_and_a_new_one_when_the_key_changes(app):
    ours = app.session_interface
    first = ours.get_signing_serializer(app)
    assert ours.get_signing_serializer(app) is first and app.extensions[SERIALIZER][1] is first
    cookie = first.dumps({"k": 1})
    old_key = app.secret_key
    app.config["SECRET_KEY"] = "another-secret-key-that-is-long-enough-0123456789"
    second = ours.get_signing_serializer(app)
    assert second is not first
    with pytest.raises(BadSignature):  # a cookie of the old key does not read
        second.loads(cookie)
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert ours.get_signing_serializer(app).loads(cookie) == {"k": 1}


def test_a_form_page_still_sets_a_secure_httponly_session_cookie(make_app):
    app = make_app(GA_MEASUREMENT_ID="G-TEST123")
    response = app.test_client().get("/login")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(app.config["SESSION_COOKIE_NAME"]))
    assert "HttpOnly" in cookie
    assert ("Secure" in cookie) == bool(app.config["SESSION_COOKIE_SECURE"])


def test_the_csrf_token_is_the_one_flask_wtf_signs_and_checks(app):
    from flask import g, session
    from flask_wtf.csrf import generate_csrf, validate_csrf

    from portal.session_cookie import csrf_token

    with app.test_request_context("/"):
        token = csrf_token()
        assert generate_csrf() == token == g.csrf_token  # one token a request, whoever asks first
        secret = session["csrf_token"]
        validate_csrf(token)  # raises if Flask-WTF does not accept it
        # Flask-WTF's own serializer (its SHA-1 wrapper) reads the secret back out of it.
        assert URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").loads(token) == secret
    with app.test_request_context("/"):
        session["csrf_token"] = secret
        validate_csrf(csrf_token())  # a new request signs the same secret anew
        with pytest.raises(ValidationError):
            validate_csrf(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_the_csrf_token_follows_a_new_key_and_flask_wtf_settings(app):
    from flask_wtf.csrf import validate_csrf

    from portal.session_cookie import csrf_token

    with app.test_request_context("/"):
        first = csrf_token()
    app.config["SECRET_KEY"] = "another-secret-key-that-is-long-enough-0123456789"
    with app.test_request_context("/"):
        token = csrf_token()
        validate_csrf(token)
        with pytest.raises(ValidationError):
            validate_csrf(first)  # signed with the old key
    app.config["WTF_CSRF_FIELD_NAME"] = "other_token"
    with app.test_request_context("/"):
        from flask import g, session

        token = csrf_token()  # Flask-WTF's own way for a setting this module does not mirror
        assert g.other_token == token and "other_token" in session
