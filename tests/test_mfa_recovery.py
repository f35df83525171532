"""Recovery codes: ten, shown once, stored hashed, each works once, regenerable, with notices."""

from __future__ import annotations

from sqlalchemy import select

from portal.mfa import recovery
from portal.mfa.models import RecoveryCode
from tests.accounts_support import create_user, logged_in_client, login
from tests.helpers import csrf_token
from tests.mfa_support import CODES, enrol_totp


def test_codes_are_stored_hashed_and_work_once(app):
    user_id = create_user(app)
    with app.test_request_context("/"):
        codes = recovery.generate(user_id)
        assert len(codes) == 10 and len(set(codes)) == 10
        stored = app.extensions["sqlalchemy"].session.scalars(select(RecoveryCode.code_hash)).all()
        assert not {c.replace("-", "") for c in codes} & set(stored)
        assert recovery.use(user_id, codes[0].upper()) is True  # typed in capitals: still the code
        assert recovery.use(user_id, codes[0]) is False
        assert recovery.remaining(user_id) == 9
        assert recovery.use(user_id, "aaaaa-aaaaa") is False
        other = create_user(app, "bob@example.com")
        assert recovery.use(other, codes[1]) is False  # another account's code


def test_a_recovery_code_signs_in_once_and_the_owner_is_told(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    _, codes = enrol_totp(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(client, "alice@example.com")
    done = client.post("/login/verify", data={"csrf_token": csrf_token(client, "/login/verify"), "code": codes[3]})
    assert done.status_code == 303 and client.get("/account").status_code == 200
    notices = [m for m in smtp.to("alice@example.com") if "recovery code was used" in str(m["Subject"])]
    assert len(notices) == 1
    page = client.get("/account/security").get_data(as_text=True)
    assert "9 recovery codes left of 10" in page

    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(client, "alice@example.com")
    again = client.post("/login/verify", data={"csrf_token": csrf_token(client, "/login/verify"), "code": codes[3]})
    assert again.status_code == 400 and client.get("/account").status_code == 302


def test_regenerating_replaces_every_code_and_is_shown_once(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    _, old = enrol_totp(client)
    response = client.post("/account/recovery-codes", data={"csrf_token": csrf_token(client, "/account/security")})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = CODES.findall(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert any("New recovery codes" in str(m["Subject"]) for m in smtp.to("alice@example.com"))
    # The security page never shows the codes again.
    page = client.get("/account/security").get_data(as_text=True)
    assert not any(code in page for code in new)
    with app.test_request_context("/"):
        assert recovery.use(1, old[0]) is False and recovery.use(1, new[0]) is True
