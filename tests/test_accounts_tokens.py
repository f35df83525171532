"""Links in emails: expiry (itsdangerous' own timestamps), single use, tampering, malformed input."""

from __future__ import annotations

import pytest

from tests.accounts_support import (
    backdate_token,
    create_user,
    link_from,
    logged_in_client,
    login,
    post_account_form,
    set_ip,
)
from tests.helpers import PASSWORD, post_form, text_part

NEW_PASSWORD = "a brand new walrus sings opera 99"
HOUR = 3600


def _signup_token(app, smtp, email="tom@example.com"):
    post_form(app.test_client(), "/signup", {"email": email, "password": PASSWORD})
    return link_from(smtp, email, "/confirm/").rsplit("/", 1)[1]


def _reset_token(app, smtp, email="tom@example.com"):
    smtp.clear()
    post_form(set_ip(app.test_client(), "192.0.2.50"), "/reset-password", {"email": email})
    return link_from(smtp, email, "/reset-password/").rsplit("/", 1)[1]


def test_confirmation_link_expires_after_48_hours(app, client, smtp):
    token = _signup_token(app, smtp)
    expired = client.get(f"/confirm/{backdate_token(app, token, 'confirm', 48 * HOUR + 5)}")
    assert expired.status_code == 400 and "has expired" in expired.get_data(as_text=True)
    assert login(client, "tom@example.com").status_code == 400
    still_fresh = client.get(f"/confirm/{backdate_token(app, token, 'confirm', 47 * HOUR)}")
    assert still_fresh.status_code == 302
    assert login(client, "tom@example.com").status_code == 302


def test_confirmation_link_works_once(app, client, smtp):
    token = _signup_token(app, smtp)
    assert client.get(f"/confirm/{token}").status_code == 302
    again = client.get(f"/confirm/{token}")
    assert again.status_code == 400 and "cannot be used again" in again.get_data(as_text=True)


def test_reset_link_expires_after_one_hour(app, client, smtp):
    create_user(app, "tom@example.com")
    token = _reset_token(app, smtp)
    old = backdate_token(app, token, "reset", HOUR + 5)
    response = client.get(f"/reset-password/{old}")
    assert response.status_code == 400 and "has expired" in response.get_data(as_text=True)
    response = client.post(f"/reset-password/{old}", data={"password": NEW_PASSWORD})
    assert response.status_code == 400
    recent = backdate_token(app, token, "reset", HOUR - 60)
    assert client.get(f"/reset-password/{recent}").status_code == 200


def test_reset_link_is_single_use_and_ends_every_session_with_a_notice(app, smtp):
    create_user(app, "tom@example.com")
    phone = logged_in_client(app, "tom@example.com")
    laptop = logged_in_client(app, "tom@example.com")
    token = _reset_token(app, smtp)
    smtp.clear()
    client = app.test_client()
    response = post_form(client, f"/reset-password/{token}", {"password": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert phone.get("/account").status_code == 302 and laptop.get("/account").status_code == 302
    [notice] = smtp.wait_for(1)
    assert notice["To"] == "tom@example.com" and "password was changed" in notice["Subject"]
    assert "/reset-password" in text_part(notice)
    again = post_form(
        client, f"/reset-password/{token}", {"password": "yet another lovely phrase 12"}, token_from="/login"
    )
    assert again.status_code == 400 and "already been used" in again.get_data(as_text=True)
    assert login(client, "tom@example.com", NEW_PASSWORD).status_code == 302


def test_reset_link_dies_when_the_password_changes_another_way(app, smtp):
    create_user(app, "tom@example.com")
    token = _reset_token(app, smtp)
    client = logged_in_client(app, "tom@example.com")
    response = post_account_form(
        client, "/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert app.test_client().get(f"/reset-password/{token}").status_code == 400


def test_reset_refuses_a_weak_password_with_the_reason_and_keeps_the_link(app, smtp):
    create_user(app, "tom@example.com")
    token = _reset_token(app, smtp)
    client = app.test_client()
    response = post_form(client, f"/reset-password/{token}", {"password": "password1234"})
    assert response.status_code == 400
    assert "common" in response.get_data(as_text=True).lower() or "guess" in response.get_data(as_text=True).lower()
    assert client.get(f"/reset-password/{token}").status_code == 200


@pytest.mark.parametrize(
    "purpose, path",
    [("confirm", "/confirm/"), ("reset", "/reset-password/"), ("email-change", "/account/email/confirm/")],
)
def test_tampered_and_cross_purpose_tokens_are_refused(app, smtp, purpose, path):
    create_user(app, "tom@example.com", confirmed=False)
    with app.test_request_context("/"):
        from portal.accounts import service

        user = service.find_user("tom@example.com")
        tokens = {
            "confirm": service.confirmation_token(user),
            "reset": service.reset_token(user),
            "email-change": service.email_change_token(user, "other@example.com"),
        }
    token = tokens[purpose]
    payload, rest = token.split(".", 1)
    tampered = [
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),  # signature changed
        payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + rest,  # payload changed
    ]
    others = [t for p, t in tokens.items() if p != purpose]  # a valid token for another job
    client = app.test_client()
    for bad in tampered + others:
        response = client.get(path + bad)
        assert response.status_code == 400, bad
        assert "not valid" in response.get_data(as_text=True) or "no longer valid" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "token", ["x", "a.b.c", "..", "%00", "\x00abc", "A" * 5000, "é€😀", "eyJ1aWQiOjF9.x.y", "' OR 1=1 --"]
)
@pytest.mark.parametrize("path", ["/confirm/", "/reset-password/", "/account/email/confirm/"])
def test_malformed_tokens_are_a_4xx_never_a_500(client, path, token):
    response = client.get(path + token)
    assert 400 <= response.status_code < 500
    if path == "/reset-password/":
        assert 400 <= client.post(path + token, data={"password": "x"}).status_code < 500
