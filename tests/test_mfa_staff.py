"""Staff must use a second factor: no staff page without one, and the audit fails without it."""

from __future__ import annotations

import time

from portal.extensions import db
from tests.accounts_support import login
from tests.factories import make_user
from tests.helpers import PASSWORD, csrf_token
from tests.mfa_support import give_authenticator


def _staff(app, email: str = "boss@example.org") -> int:
    with app.test_request_context("/"):
        user_id = make_user(email, password=PASSWORD, admin=True).id
        db.session.remove()
    return user_id


def test_staff_without_a_second_factor_are_sent_to_enrol(app, client):
    _staff(app)
    login(client, "boss@example.org")
    for path in ("/staff", "/staff/desk"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["Location"].endswith("/account/security#second-factor")
    # The desk's old address sends staff to the console, whose gate applies there.
    old = client.get("/privacy/inquiries")
    assert old.status_code == 301 and old.headers["Location"].endswith("/staff/desk")
    token = csrf_token(client, "/account/security")
    refused = client.post("/staff/desk/DP-NOSUCH00/answered", data={"csrf_token": token})
    assert refused.status_code == 303 and "/account/security" in refused.headers["Location"]
    page = client.get("/account/security").get_data(as_text=True)
    assert "Staff accounts must have a passkey or an authenticator app" in page


def test_staff_with_a_second_factor_get_in(app, client):
    from portal.mfa import totp

    user_id = _staff(app)
    with app.test_request_context("/"):
        secret = give_authenticator(user_id)
        db.session.remove()
    login(client, "boss@example.org")
    client.post("/login/verify", data={"csrf_token": csrf_token(client, "/login/verify"),
                                       "code": totp.code_at(secret, time.time())})
    assert client.get("/staff").status_code == 200
    assert client.get("/privacy/inquiries", follow_redirects=True).status_code == 200


def test_ordinary_accounts_still_get_404(app, client):
    with app.test_request_context("/"):
        make_user("someone@example.org", password=PASSWORD)
        db.session.remove()
    login(client, "someone@example.org")
    assert client.get("/staff").status_code == 404 and client.get("/privacy/inquiries").status_code == 404


def test_the_audit_fails_while_a_staff_account_has_no_second_factor(app):
    user_id = _staff(app)
    runner = app.test_cli_runner()
    line = next(x for x in runner.invoke(args=["privacy", "audit"]).output.splitlines() if "staff-second-factor" in x)
    assert line.startswith("FAIL") and "boss@example.org" in line
    with app.test_request_context("/"):
        give_authenticator(user_id)
        db.session.remove()
    line = next(x for x in runner.invoke(args=["privacy", "audit"]).output.splitlines() if "staff-second-factor" in x)
    assert line.startswith("PASS")
