"""Bad input on every account field, cookie, header and method: a clear 4xx, never a 500."""

from __future__ import annotations

import pytest

from tests.accounts_support import (
    create_user,
    logged_in_client,
    set_ip,
)
from tests.helpers import PASSWORD, csrf_token

TRACE = ("Traceback", 'File "', "sqlalchemy.exc")
BAD_VALUES = {
    "nul": "abc\x00def@example.com",
    "only nul": "\x00",
    "10 kB email": "a" * 10_000 + "@example.com",
    "100 kB": "p" * 100_000,
    "control": "\x1b[31m\r\n\t",
    "unicode": "ü😀\u202e@ex\u00e4mple.com",
    "html": "<script>alert(1)</script>",
    "sql": "' OR 1=1 --",
    "empty": "",
}

PUBLIC_FORMS = {
    "/signup": ("email", "password", "newsletter"),
    "/login": ("email", "password"),
    "/reset-password": ("email",),
    "/confirm/resend": ("email",),
}
ACCOUNT_FORMS = {
    "/account/password": ("current_password", "new_password"),
    "/account/email": ("password", "new_email"),
    "/account/sessions/revoke": ("session_id", "all_others"),
}


def _ok(response, allowed=(200, 302, 303, 400, 413, 429)):
    body = response.get_data(as_text=True)
    assert response.status_code in allowed, (response.status_code, body[:300])
    assert not any(marker in body for marker in TRACE)
    return response


def _base(fields):
    good = {
        "email": "zed@example.com",
        "password": PASSWORD,
        "newsletter": "y",
        "current_password": PASSWORD,
        "new_password": "another strong pass phrase 8",
        "new_email": "zed2@example.com",
        "session_id": "1",
        "all_others": "1",
    }
    return {name: good[name] for name in fields}


@pytest.mark.parametrize("label", BAD_VALUES)
def test_public_forms_survive_bad_values_in_every_field(make_app, smtp, label):
    app = make_app(
        LOGIN_RATE_LIMIT="1000 per minute", SIGNUP_RATE_LIMIT="1000 per minute", RESET_RATE_LIMIT="1000 per minute"
    )
    create_user(app, "zed@example.com")
    client = set_ip(app.test_client(), "192.0.2.99")
    for path, fields in PUBLIC_FORMS.items():
        token = csrf_token(client, path)
        for name in fields:
            data = _base(fields) | {name: BAD_VALUES[label], "csrf_token": token}
            _ok(client.post(path, data=data))


@pytest.mark.parametrize("label", BAD_VALUES)
def test_account_forms_survive_bad_values_in_every_field(app, smtp, label):
    for i, (path, fields) in enumerate(ACCOUNT_FORMS.items()):
        # An account per form: a bad-looking value can still be a valid new password.
        create_user(app, f"zed{i}@example.com")
        client = logged_in_client(app, f"zed{i}@example.com")
        token = csrf_token(client, "/account")
        for name in fields:
            data = _base(fields) | {name: BAD_VALUES[label], "csrf_token": token}
            _ok(client.post(path, data=data))


@pytest.mark.parametrize("label", BAD_VALUES)
def test_reset_form_survives_bad_passwords(app, smtp, label):
    create_user(app, "zed@example.com")
    from portal.accounts import service

    with app.test_request_context("/"):
        token = service.reset_token(service.find_user("zed@example.com"))
    client = app.test_client()
    page_token = csrf_token(client, f"/reset-password/{token}")
    _ok(client.post(f"/reset-password/{token}", data={"password": BAD_VALUES[label], "csrf_token": page_token}))


def test_an_oversized_body_is_413(client):
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "email": "a@example.com", "password": "x" * 2_000_000})
    assert response.status_code == 413


def test_missing_and_repeated_fields_and_wrong_content_types(client):
    token = csrf_token(client, "/login")
    _ok(client.post("/login", data={"csrf_token": token}))
    _ok(
        client.post(
            "/login",
            data={"csrf_token": token, "email": ["a@example.com", "b@example.com"], "password": [PASSWORD, "x"]},
        )
    )
    _ok(client.post("/login", data='{"email": "a@example.com"}', content_type="application/json"))
    _ok(client.post("/login", data=b"\xff\xfe\x00garbage", content_type="application/x-www-form-urlencoded"))
    _ok(client.post("/login", data=b"--x\r\n", content_type="multipart/form-data; boundary=x"))
    # Invalid UTF-8 and overlong encodings, percent-encoded in an otherwise valid form body.
    body = f"csrf_token={token}&email=%ff%fe%00%40example.com&password=%c0%80%ed%a0%80aaaaaaaaaaaa".encode()
    _ok(client.post("/login", data=body, content_type="application/x-www-form-urlencoded"))


@pytest.mark.parametrize(
    "path",
    [
        "/signup",
        "/login",
        "/logout",
        "/reset-password",
        "/reset-password/abc",
        "/confirm/abc",
        "/confirm/resend",
        "/account",
        "/account/password",
        "/account/email",
        "/account/email/confirm/abc",
        "/account/sessions",
        "/account/sessions/revoke",
    ],
)
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_unexpected_methods_are_405(client, path, method):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert not any(marker in response.get_data(as_text=True) for marker in TRACE)


def test_wrong_method_on_get_only_and_post_only_routes(client):
    assert client.post("/account").status_code in (400, 405)
    assert client.get("/account/password").status_code == 405
    assert client.get("/account/sessions/revoke").status_code == 405


@pytest.mark.parametrize(
    "header",
    [
        {"Cookie": "portal_sid=\x7f\x00; session=%%%; =; ;;;"},
        {"Cookie": "session=" + "A" * 3000},
        {"Cookie": "session=eyJfZnJlc2giOmZhbHNlfQ.bad.signature"},
        {"User-Agent": "U" * 10_000},
        {"User-Agent": "\x00\x01"},
        {"X-Forwarded-For": "not-an-ip, " * 500},
        {"Referer": "javascript:alert(1)"},
        {"Host": "evil.example"},
    ],
)
def test_garbage_headers_on_login_are_harmless(make_app, smtp, header):
    app = make_app(TRUSTED_PROXY_COUNT=1)
    create_user(app, "zed@example.com")
    client = app.test_client()
    _ok(client.get("/login", headers=header), allowed=(200, 400, 404))
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"csrf_token": token, "email": "zed@example.com", "password": PASSWORD}, headers=header
    )
    _ok(response, allowed=(302, 400, 404))


def test_garbage_proxy_address_is_recorded_safely(make_app, smtp):
    app = make_app(TRUSTED_PROXY_COUNT=1)
    create_user(app, "zed@example.com")
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "zed@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "x" * 500, "User-Agent": "Agent\x00" + "u" * 1000},
    )
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    from sqlalchemy import select

    from portal.accounts.models import LoginAttempt, LoginSession
    from tests.accounts_support import db_rows

    [(ip, agent)] = db_rows(app, select(LoginSession.ip, LoginSession.user_agent))
    assert ip == "x" * 64 and agent == "Agent" + "u" * 251
    assert [r.ip for r in db_rows(app, select(LoginAttempt.ip))] == ["x" * 64]


def test_revoking_a_session_id_that_is_not_a_number_is_refused(app, smtp):
    create_user(app, "zed@example.com")
    client = logged_in_client(app, "zed@example.com")
    token = csrf_token(client, "/account/sessions")
    for value in ("abc", "-1", "1e9", "9" * 40, "1; DROP TABLE users"):
        response = client.post("/account/sessions/revoke", data={"csrf_token": token, "session_id": value})
        assert response.status_code in (302, 303, 400)
    assert client.get("/account").status_code == 200
