"""The second factors in the export and the erasure, and the new-browser notice."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from portal.extensions import db
from portal.mfa.models import Authenticator, KnownBrowser, Passkey, RecoveryCode
from tests.accounts_support import create_user, logged_in_client, login, set_ip
from tests.helpers import PASSWORD, csrf_token
from tests.mfa_support import SoftAuthenticator, add_passkey, b64url, enrol_totp


def test_export_names_the_factors_but_never_a_secret(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    secret, codes = enrol_totp(client)
    device = SoftAuthenticator()
    add_passkey(client, device, "Laptop")
    text = client.get("/account/export").get_data(as_text=True)
    section = json.loads(text)["second_factors"]
    assert section["passkeys"][0]["name"] == "Laptop"
    assert section["passkeys"][0]["credential_id"] == b64url(device.credential_id)
    assert section["authenticator_app"]["confirmed_at"] and section["recovery_codes"]["unused"] == 10
    assert secret not in text and not any(code in text or code.replace("-", "") in text for code in codes)
    with app.app_context():
        stored = db.session.scalar(select(Authenticator.secret_encrypted))
        assert stored not in text


def test_erasure_removes_every_factor(app, smtp):
    create_user(app)
    client = logged_in_client(app)
    enrol_totp(client)
    add_passkey(client, SoftAuthenticator())
    response = client.post("/account/delete", data={"csrf_token": csrf_token(client, "/account/data"),
                                                     "password": PASSWORD})
    assert response.status_code == 303
    with app.app_context():
        for model in (Passkey, Authenticator, RecoveryCode, KnownBrowser):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_a_sign_in_from_a_new_browser_is_told_but_not_the_first_or_a_known_one(app, smtp):
    create_user(app)
    first = logged_in_client(app)
    assert first.get_cookie("portal_device") is not None
    assert not [m for m in smtp.to("alice@example.com") if "new sign-in" in str(m["Subject"])]
    first.post("/logout", data={"csrf_token": csrf_token(first, "/account")})
    login(first, "alice@example.com")  # the same browser again
    assert not [m for m in smtp.to("alice@example.com") if "new sign-in" in str(m["Subject"])]

    other = set_ip(app.test_client(), "198.51.100.23")
    other.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    login(other, "alice@example.com")
    [notice] = [m for m in smtp.to("alice@example.com") if "new sign-in" in str(m["Subject"])]
    body = notice.get_body(preferencelist=("plain",)).get_content()
    assert "Firefox on Linux" in body and "198.51.100.23" in body and "/account/sessions" in body
