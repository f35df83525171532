"""Every password check is throttled per account, not only the login form.

Change password, change address, export and erasure each had a per-IP budget but no per-account
one: a stolen session cookie, moved between addresses, could guess the password without end.
All of them now go through the accounts throttle (one gate, one budget per account).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts.models import LoginAttempt
from tests.accounts_support import bcrypt_spy, create_user, db_rows, logged_in_client, login, set_ip
from tests.helpers import PASSWORD, csrf_token

WRONG = "a wrong guess at the password"
OWNER_IP, THIEF_IP = "198.51.100.150", "203.0.113.150"

FORMS = {
    "/account/password": lambda pw: {"current_password": pw, "new_password": "another fine pass phrase 9"},
    "/account/email": lambda pw: {"password": pw, "new_email": "new-address@example.com"},
    "/account/export": lambda pw: {"password": pw},
    "/account/delete": lambda pw: {"password": pw},
}


def _stolen_session(app, email: str):
    """The owner signs in at home; the same cookie is then used from somewhere else."""
    create_user(app, email)
    client = logged_in_client(app, email, ip=OWNER_IP)
    return set_ip(client, THIEF_IP)


def _post(client, path: str, password: str):
    token = csrf_token(client, "/account")
    return client.post(path, data={"csrf_token": token, **FORMS[path](password)})


@pytest.mark.parametrize("path", list(FORMS))
def test_guesses_through_a_settings_form_are_throttled_per_account(make_app, smtp, path):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")  # the per-IP limit is not what stops this
    client = _stolen_session(app, "victim@example.com")
    assert [_post(client, path, f"{WRONG} {i}").status_code for i in range(5)] == [400] * 5
    refused = _post(client, path, PASSWORD)  # even the right password waits, like at the login form
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    page = refused.get_data(as_text=True)
    assert "too many wrong passwords for this account" in page and "Traceback" not in page
    outcomes = [r.outcome for r in db_rows(app, select(LoginAttempt.outcome).order_by(LoginAttempt.id))]
    assert outcomes == ["success"] + ["failure"] * 5 + ["throttled"]
    assert client.get("/account").status_code == 200  # nothing was changed or erased


def test_a_throttled_settings_check_does_no_bcrypt_work(make_app, smtp, monkeypatch):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    client = _stolen_session(app, "spy@example.com")
    for i in range(5):
        _post(client, "/account/email", f"{WRONG} {i}")
    with bcrypt_spy(monkeypatch) as spy:
        assert _post(client, "/account/email", WRONG).status_code == 429
        assert spy.costs == []


def test_settings_guesses_and_login_guesses_share_one_budget(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    client = _stolen_session(app, "shared@example.com")
    for i in range(3):
        assert _post(client, "/account/password", f"{WRONG} {i}").status_code == 400
    for _ in range(2):
        assert login(set_ip(app.test_client(), "203.0.113.151"), "shared@example.com", WRONG).status_code == 400
    # Five failures in all, from two forms and two addresses: the sixth check waits.
    assert _post(client, "/account/export", WRONG).status_code == 429
    assert login(set_ip(app.test_client(), "203.0.113.152"), "shared@example.com", PASSWORD).status_code == 429


def test_the_owners_own_network_is_not_locked_out_of_settings(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute")
    create_user(app, "home@example.com")
    client = logged_in_client(app, "home@example.com", ip=OWNER_IP)
    assert [_post(client, "/account/email", f"{WRONG} {i}").status_code for i in range(7)] == [400] * 7
