"""Authenticator-app codes on a fixed clock: ±1 step, no replay, the secret encrypted at rest,
enrolment confirmed before it counts, and the two-step sign-in with codes (no JavaScript)."""

from __future__ import annotations

import time

import pyotp
from sqlalchemy import select

from portal.mfa import keyring, totp
from portal.mfa.models import Authenticator
from tests.accounts_support import create_user, logged_in_client, login, set_ip
from tests.helpers import csrf_token
from tests.mfa_support import enrol_totp

NOW = 1_800_000_000.0  # a fixed clock: step 60_000_000
SECRET = pyotp.random_base32()


def test_code_matches_its_step_and_one_either_side_only():
    step = int(NOW // 30)
    assert totp.matching_step(SECRET, totp.code_at(SECRET, NOW), 0, NOW) == step
    assert totp.matching_step(SECRET, totp.code_at(SECRET, NOW - 30), 0, NOW) == step - 1
    assert totp.matching_step(SECRET, totp.code_at(SECRET, NOW + 30), 0, NOW) == step + 1
    assert totp.matching_step(SECRET, totp.code_at(SECRET, NOW - 60), 0, NOW) is None
    assert totp.matching_step(SECRET, totp.code_at(SECRET, NOW + 60), 0, NOW) is None


def test_a_code_at_or_before_the_last_used_step_is_refused():
    step = int(NOW // 30)
    code = totp.code_at(SECRET, NOW)
    assert totp.matching_step(SECRET, code, step, NOW) is None
    assert totp.matching_step(SECRET, totp.code_at(SECRET, NOW - 30), step, NOW) is None
    assert totp.matching_step(SECRET, totp.code_at(SECRET, NOW + 30), step, NOW) == step + 1


def test_codes_with_spaces_are_read_and_junk_is_not():
    code = totp.code_at(SECRET, NOW)
    assert totp.matching_step(SECRET, f"{code[:3]} {code[3:]}", 0, NOW) is not None
    for junk in ("", "12345", "1234567", "abcdef", "\u0661" * 6, None):
        assert totp.matching_step(SECRET, junk or "", 0, NOW) is None


def test_accept_spends_the_step_once(app):
    user_id = create_user(app)
    with app.test_request_context("/"):
        record, secret = totp.start_enrolment(user_id)
        code = totp.code_at(secret, NOW)
        assert totp.accept(record, code, NOW) is True
        assert totp.active(user_id) is not None
        assert totp.accept(record, code, NOW) is False  # replay
        assert totp.accept(record, totp.code_at(secret, NOW + 30), NOW) is True


def test_the_secret_is_encrypted_at_rest_and_survives_a_key_rotation(make_app):
    app = make_app()
    user_id = create_user(app)
    with app.test_request_context("/"):
        _, secret = totp.start_enrolment(user_id)
        stored = app.extensions["sqlalchemy"].session.scalar(
            select(Authenticator.secret_encrypted).where(Authenticator.user_id == user_id))
        assert secret not in stored
        old_key = app.config["SECRET_KEY"]
        app.config["SECRET_KEY"] = "a-brand-new-secret-key-that-is-long-enough-0123456789"
        app.config["MFA_OLD_SECRET_KEYS"] = [old_key]
        assert keyring.decrypt(stored) == secret and keyring.needs_rotation(stored)
        assert totp.rekey_all() == 1
        app.config["MFA_OLD_SECRET_KEYS"] = []
        record = totp.of(user_id)
        assert keyring.decrypt(record.secret_encrypted) == secret


def test_enrolment_must_be_confirmed_before_it_counts(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    client.get("/account/authenticator")
    token = csrf_token(client, "/account/authenticator")
    wrong = client.post("/account/authenticator", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 400 and "not correct" in wrong.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    # Not confirmed: the password alone still signs in.
    assert login(client, "alice@example.com").headers["Location"].endswith("/account")


def test_sign_in_with_password_and_code_without_javascript(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    secret, codes = enrol_totp(client)
    assert len(codes) == 10
    assert any("authenticator app was set up" in str(m["Subject"]) for m in smtp.to("alice@example.com"))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})

    response = login(client, "alice@example.com")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/verify")
    assert client.get_cookie("portal_sid") is None  # no session before the second step
    assert client.get("/account").status_code == 302
    page = client.get("/login/verify").get_data(as_text=True)
    assert 'name="code"' in page and "needs JavaScript" not in page  # codes work without any script
    token = csrf_token(client, "/login/verify")
    code = totp.code_at(secret, time.time() + 30)  # the next step: the enrolment spent this one
    done = client.post("/login/verify", data={"csrf_token": token, "code": code})
    assert done.status_code == 303 and done.headers["Location"].endswith("/account")
    assert client.get("/account").status_code == 200

    # The same code again, in a new sign-in: refused.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(client, "alice@example.com")
    again = client.post("/login/verify", data={"csrf_token": csrf_token(client, "/login/verify"), "code": code})
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_wrong_codes_count_in_the_accounts_throttle(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="1000 per minute")
    create_user(app)
    client = logged_in_client(app)
    enrol_totp(client)
    attacker = set_ip(app.test_client(), "203.0.113.9")
    assert login(attacker, "alice@example.com").status_code == 303
    token = csrf_token(attacker, "/login/verify")
    statuses = [attacker.post("/login/verify", data={"csrf_token": token, "code": "000000"}).status_code
                for _ in range(7)]
    # Five failures are free (as for passwords), then the account's delay refuses without checking.
    assert statuses[:5] == [400] * 5 and 429 in statuses[5:]
    refused = attacker.post("/login/verify", data={"csrf_token": token, "code": "000000"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # And a password guess now waits as well: one budget for both.
    assert login(attacker, "alice@example.com", "wrong password").status_code == 429


def test_wrong_codes_count_in_the_per_ip_limit(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    user_id = create_user(app)
    client = set_ip(app.test_client(), "203.0.113.10")
    with app.test_request_context("/"):
        record, secret = totp.start_enrolment(user_id)
        totp.accept(record, totp.code_at(secret, time.time()))
    assert login(client, "alice@example.com").status_code == 303
    token = csrf_token(client, "/login/verify")
    statuses = [client.post("/login/verify", data={"csrf_token": token, "code": "000000"}).status_code
                for _ in range(4)]
    assert statuses[-1] == 429


def test_pending_step_expires(make_app, smtp):
    app = make_app(MFA_PENDING_SECONDS=30)
    user_id = create_user(app)
    with app.test_request_context("/"):
        record, secret = totp.start_enrolment(user_id)
        totp.accept(record, totp.code_at(secret, time.time() - 30))
    client = app.test_client()
    login(client, "alice@example.com")
    from datetime import timedelta

    from sqlalchemy import update

    from portal.db import utcnow
    from portal.extensions import db
    from portal.mfa.models import PendingStep

    with app.app_context():
        db.session.execute(update(PendingStep).values(created_at=utcnow() - timedelta(seconds=31)))
        db.session.commit()
    response = client.get("/login/verify")
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    code = totp.code_at(secret, time.time())
    late = client.post("/login/verify", data={"csrf_token": csrf_token(client, "/login"), "code": code})
    assert late.status_code == 303 and client.get("/account").status_code == 302


def test_another_browser_cannot_finish_someone_elses_step(app, smtp):
    user_id = create_user(app)
    with app.test_request_context("/"):
        record, secret = totp.start_enrolment(user_id)
        totp.accept(record, totp.code_at(secret, time.time() - 30))
    victim = app.test_client()
    login(victim, "alice@example.com")
    other = app.test_client()
    response = other.post("/login/verify", data={"csrf_token": csrf_token(other, "/login"),
                                                 "code": totp.code_at(secret, time.time())})
    assert response.status_code == 303 and other.get("/account").status_code == 302
