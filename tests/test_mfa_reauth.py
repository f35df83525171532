"""Re-authentication: every sensitive action needs a password, code or passkey check within
REAUTH_SECONDS — through /account/confirm, or the action's own password field."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from portal.accounts.models import LoginSession
from portal.db import utcnow
from portal.extensions import db
from portal.mfa import totp
from tests.accounts_support import create_user, logged_in_client
from tests.helpers import PASSWORD, csrf_token
from tests.mfa_support import SoftAuthenticator, add_passkey, enrol_totp, form_token, page_options


def _stale(app) -> None:
    with app.app_context():
        db.session.execute(update(LoginSession).values(reauthenticated_at=utcnow() - timedelta(seconds=301)))
        db.session.commit()


def _confirm_redirect(response) -> bool:
    return response.status_code == 303 and "/account/confirm?next=" in response.headers["Location"]


# Each sensitive action without its own password field: (method, path, form data).
GATED = [
    ("GET", "/account/passkeys/new", {}),
    ("POST", "/account/passkeys", {"name": "x", "credential": "{}"}),
    ("POST", "/account/passkeys/1/delete", {}),
    ("GET", "/account/authenticator", {}),
    ("POST", "/account/authenticator", {"code": "123456"}),
    ("POST", "/account/authenticator/delete", {}),
    ("POST", "/account/recovery-codes", {}),
    # The password forms, sent without their password field.
    ("POST", "/account/password", {"new_password": "another long password 99"}),
    ("POST", "/account/email", {"new_email": "new@example.com"}),
    ("POST", "/account/delete", {}),
]


@pytest.mark.parametrize(("method", "path", "data"), GATED)
def test_a_stale_session_is_sent_to_confirm_first(app, smtp, method, path, data):
    create_user(app)
    client = logged_in_client(app)
    token = csrf_token(client, "/account/security")
    _stale(app)
    response = client.open(path, method=method, data={"csrf_token": token, **data} if method == "POST" else None)
    assert _confirm_redirect(response), (response.status_code, response.headers.get("Location"))


def test_export_without_a_fresh_check_asks_for_the_password(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    _stale(app)
    assert client.get("/account/export").mimetype == "text/html"


def test_the_password_forms_own_field_is_the_reauthentication(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    token = csrf_token(client, "/account/security")
    _stale(app)
    wrong = client.post("/account/password", data={"csrf_token": token, "current_password": "nope",
                                                    "new_password": "another long password 99"})
    assert wrong.status_code == 400
    right = client.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                                    "new_password": "another long password 99"})
    assert right.status_code == 302


def test_confirm_with_the_password_then_the_action_works(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    _stale(app)
    first = client.get("/account/authenticator")
    target = first.headers["Location"]
    page = client.get(target)
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    wrong = client.post(target, data={"csrf_token": form_token(page.get_data(as_text=True)), "password": "nope"})
    assert wrong.status_code == 400
    done = client.post(target, data={"csrf_token": form_token(page.get_data(as_text=True)), "password": PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/account/authenticator"
    assert client.get("/account/authenticator").status_code == 200


def test_confirm_with_a_code_or_a_passkey(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    secret, _ = enrol_totp(client)
    device = SoftAuthenticator()
    add_passkey(client, device)
    _stale(app)
    assert _confirm_redirect(client.post("/account/recovery-codes",
                                         data={"csrf_token": csrf_token(client, "/account/security")}))
    page = client.get("/account/confirm?next=/account/security").get_data(as_text=True)
    code = totp.code_at(secret, time.time() + 30)
    done = client.post("/account/confirm?next=/account/security", data={"csrf_token": form_token(page), "code": code})
    assert done.status_code == 303
    assert client.post("/account/recovery-codes", data={"csrf_token": form_token(page)}).status_code == 200

    _stale(app)
    page = client.get("/account/confirm").get_data(as_text=True)
    answer = device.get(page_options(page))
    done = client.post("/account/confirm", data={"csrf_token": form_token(page), "credential": answer})
    assert done.status_code == 303 and done.headers["Location"] == "/account/security"
    assert client.get("/account/passkeys/new").status_code == 200


def test_confirm_refuses_an_offsite_next(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    page = client.get("/account/confirm?next=//evil.example/").get_data(as_text=True)
    done = client.post("/account/confirm?next=//evil.example/", data={"csrf_token": form_token(page),
                                                                      "password": PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/account/security"


def test_wrong_passwords_at_confirm_count_in_the_accounts_throttle(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="1000 per minute")
    create_user(app)
    client = logged_in_client(app, ip="203.0.113.50")
    page = client.get("/account/confirm").get_data(as_text=True)
    statuses = [client.post("/account/confirm", data={"csrf_token": form_token(page), "password": "nope"}).status_code
                for _ in range(7)]
    # The owner's own network is never throttled, but every wrong answer spent the account's budget:
    assert statuses == [400] * 7
    from tests.accounts_support import login, set_ip

    elsewhere = set_ip(app.test_client(), "198.51.100.77")
    assert login(elsewhere, "alice@example.com").status_code == 429
