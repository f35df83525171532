"""Passkeys against the server's real WebAuthn checks, with a software authenticator: register,
sign in without a password, several per account, rename, remove; forged and replayed answers."""

from __future__ import annotations

import json

from sqlalchemy import select

from portal.mfa.models import Passkey
from tests.accounts_support import create_user, logged_in_client, login
from tests.helpers import csrf_token
from tests.mfa_support import SoftAuthenticator, add_passkey, b64url, form_token, page_options, unb64url


def _login_options(client) -> str:
    token = csrf_token(client, "/login")
    response = client.post("/login/passkey/options", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_data(as_text=True)


def _passkey_login(client, device: SoftAuthenticator, **kwargs) -> tuple[object, str]:
    answer = device.get(_login_options(client), **kwargs)
    response = client.post("/login/passkey", data={"csrf_token": csrf_token(client, "/login"), "credential": answer})
    return response, answer


def _rows(app):
    from portal.extensions import db

    with app.app_context():
        rows = db.session.scalars(select(Passkey).order_by(Passkey.id)).all()
        db.session.expunge_all()
        return rows


def test_register_and_sign_in_with_a_passkey_and_no_password(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    device = SoftAuthenticator()
    response = add_passkey(client, device, "Laptop")
    assert response.status_code == 200 and "recovery codes" in response.get_data(as_text=True)  # first factor
    [row] = _rows(app)
    assert row.name == "Laptop" and row.credential_id == b64url(device.credential_id)
    assert row.user_handle == b64url(device.user_handle) and row.user_handle != b64url(b"1")
    assert any("passkey was added" in str(m["Subject"]) for m in smtp.to("alice@example.com"))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})

    signed_in, _ = _passkey_login(client, device)
    assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith("/account")
    assert client.get("/account").status_code == 200
    assert _rows(app)[0].sign_count == device.counter and _rows(app)[0].last_used_at is not None


def test_the_password_sign_in_then_asks_for_the_passkey(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    device = SoftAuthenticator()
    add_passkey(client, device)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    assert login(client, "alice@example.com").headers["Location"].endswith("/login/verify")
    page = client.get("/login/verify").get_data(as_text=True)
    answer = device.get(page_options(page))
    done = client.post("/login/verify", data={"csrf_token": form_token(page), "credential": answer})
    assert done.status_code == 303 and client.get("/account").status_code == 200


def test_a_second_passkey_rename_and_removal(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    first, second = SoftAuthenticator(), SoftAuthenticator()
    add_passkey(client, first, "Laptop")
    assert add_passkey(client, second, "Phone").status_code == 303
    rows = _rows(app)
    assert [r.name for r in rows] == ["Laptop", "Phone"] and rows[0].user_handle == rows[1].user_handle
    token = csrf_token(client, "/account/security")
    client.post(f"/account/passkeys/{rows[1].id}/rename", data={"csrf_token": token, "name": "  My   phone "})
    assert _rows(app)[1].name == "My phone"
    removed = client.post(f"/account/passkeys/{rows[0].id}/delete", data={"csrf_token": token})
    assert removed.status_code == 303 and [r.name for r in _rows(app)] == ["My phone"]
    assert any("passkey was removed" in str(m["Subject"]) for m in smtp.to("alice@example.com"))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    assert _passkey_login(client, first)[0].status_code == 400  # the removed one no longer works
    assert _passkey_login(client, second)[0].status_code == 303


def test_nobody_removes_or_renames_anothers_passkey(app, smtp):
    create_user(app)
    create_user(app, "bob@example.com")
    alice = logged_in_client(app)
    add_passkey(alice, SoftAuthenticator())
    [row] = _rows(app)
    bob = logged_in_client(app, "bob@example.com")
    token = csrf_token(bob, "/account/security")
    bob.post(f"/account/passkeys/{row.id}/delete", data={"csrf_token": token})
    bob.post(f"/account/passkeys/{row.id}/rename", data={"csrf_token": token, "name": "mine"})
    assert [r.name for r in _rows(app)] == ["Laptop"]


def test_a_replayed_assertion_is_refused(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    device = SoftAuthenticator()
    add_passkey(client, device)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    signed_in, answer = _passkey_login(client, device)
    assert signed_in.status_code == 303
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    # The same answer again, even after asking for a new challenge: the old one is spent.
    _login_options(client)
    replay = client.post("/login/passkey", data={"csrf_token": csrf_token(client, "/login"), "credential": answer})
    assert replay.status_code == 400 and client.get("/account").status_code == 302
    # And from another browser, with no challenge of its own at all.
    other = app.test_client()
    again = other.post("/login/passkey", data={"csrf_token": csrf_token(other, "/login"), "credential": answer})
    assert again.status_code == 400 and other.get("/account").status_code == 302


def test_forged_assertions_are_refused(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="1000 per minute")
    create_user(app)
    client = logged_in_client(app)
    device = SoftAuthenticator()
    add_passkey(client, device)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})

    impostor = SoftAuthenticator(credential_id=device.credential_id, user_handle=device.user_handle)  # other key
    assert _passkey_login(client, impostor)[0].status_code == 400
    assert _passkey_login(client, device, origin="https://evil.example")[0].status_code == 400
    assert _passkey_login(client, device, rp_id="evil.example")[0].status_code == 400
    device.user_verified = False
    assert _passkey_login(client, device)[0].status_code == 400
    device.user_verified = True
    # A tampered signature, and answers that are not even JSON.
    forged = json.loads(device.get(_login_options(client)))
    signature = bytearray(unb64url(forged["response"]["signature"]))
    signature[-1] ^= 1
    forged["response"]["signature"] = b64url(bytes(signature))
    token = csrf_token(client, "/login")
    tampered = client.post("/login/passkey", data={"csrf_token": token, "credential": json.dumps(forged)})
    assert tampered.status_code == 400
    for junk in ("", "{", "[]", '{"id": 1}', "x" * 30000):
        _login_options(client)
        assert client.post("/login/passkey", data={"csrf_token": token, "credential": junk}).status_code == 400
    assert client.get("/account").status_code == 302
    assert _passkey_login(client, device)[0].status_code == 303  # the real one still works


def test_a_challenge_is_bound_to_the_browser_that_asked(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    device = SoftAuthenticator()
    add_passkey(client, device)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    thief = app.test_client()
    answer = device.get(_login_options(client))  # the victim's browser asked
    stolen = thief.post("/login/passkey", data={"csrf_token": csrf_token(thief, "/login"), "credential": answer})
    assert stolen.status_code == 400 and thief.get("/account").status_code == 302


def test_passkey_sign_in_counts_in_the_per_ip_limit(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    token = csrf_token(client, "/login")
    statuses = [client.post("/login/passkey", data={"csrf_token": token, "credential": "{}"}).status_code
                for _ in range(3)]
    assert statuses == [400, 400, 429]
