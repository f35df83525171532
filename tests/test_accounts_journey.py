"""The account lifecycle end to end, through real emails: signup, confirm, login, logout, settings."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import LoginAttempt, LoginSession, User
from tests.accounts_support import (
    account_page,
    cookie_value,
    create_user,
    db_rows,
    link_from,
    logged_in_client,
    login,
    post_account_form,
    set_ip,
)
from tests.helpers import PASSWORD, csrf_token, post_form, text_part

NEW_PASSWORD = "purple elephant quietly juggling 7 moons"


def test_signup_email_confirm_login_logout_journey(app, client, smtp):
    response = post_form(client, "/signup", {"email": "Alice@Example.COM", "password": PASSWORD})
    # Post/redirect/get: a reload of the answer does not sign up again.
    assert response.status_code == 303 and response.location == "/check-inbox/signup"
    assert "Check your inbox" in client.get(response.location).get_data(as_text=True)

    [message] = smtp.wait_for(1)
    assert message["To"] == "Alice@example.com"  # domain normalised, local part kept
    body = text_part(message)
    assert "48 hours" in body
    confirm_path = link_from(smtp, "alice@example.com", "/confirm/")

    # Not confirmed yet: the right password still does not log in.
    refused = login(client, "alice@example.com")
    assert refused.status_code == 400
    assert "confirm your email address" in refused.get_data(as_text=True)
    assert cookie_value(client) is None

    confirmed = client.get(confirm_path)
    assert confirmed.status_code == 302 and confirmed.headers["Location"].endswith("/login")

    response = login(client, "ALICE@example.com")  # case-insensitive
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert cookie_value(client)
    page = account_page(client)
    assert "Alice@example.com" in page

    response = post_form(client, "/logout", {}, token_from="/account")
    assert response.status_code == 302
    assert cookie_value(client) is None
    assert client.get("/account").status_code == 302


def test_login_refused_until_confirmed_and_resend_sends_a_working_link(app, client, smtp):
    create_user(app, "bob@example.com", confirmed=False)
    response = login(client, "bob@example.com")
    assert response.status_code == 400
    assert 'href="/confirm/resend"' in response.get_data(as_text=True)

    response = post_form(client, "/confirm/resend", {"email": "bob@example.com"}, follow_redirects=True)
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    [message] = smtp.wait_for(1)
    assert message["To"] == "bob@example.com"
    assert client.get(link_from(smtp, "bob@example.com", "/confirm/")).status_code == 302
    assert login(client, "bob@example.com").status_code == 302

    # Resend for a confirmed or unknown address answers the same and sends nothing.
    smtp.clear()
    for address in ("bob@example.com", "nobody@example.com"):
        response = post_form(client, "/confirm/resend", {"email": address}, follow_redirects=True)
        assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    assert smtp.messages == []


def test_signup_is_unique_case_insensitively_in_the_database(app, client, smtp):
    create_user(app, "carol@example.com")
    post_form(client, "/signup", {"email": "CAROL@example.com", "password": PASSWORD})
    rows = db_rows(app, select(User.email))
    assert [r.email for r in rows] == ["carol@example.com"]

    import pytest
    from sqlalchemy.exc import IntegrityError

    from portal.extensions import db

    with app.app_context():
        db.session.add(User(email="x", email_key="carol@example.com", password_hash="x"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_account_page_lists_sessions_and_recent_sign_ins_with_ip(app, smtp):
    create_user(app, "dora@example.com")
    other = set_ip(app.test_client(), "198.51.100.7")
    assert login(other, "dora@example.com", "wrong password here!").status_code == 400
    assert login(other, "dora@example.com").status_code == 302
    client = logged_in_client(app, "dora@example.com", ip="203.0.113.5")
    page = account_page(client)
    assert "198.51.100.7" in page and "203.0.113.5" in page
    assert "Wrong password" in page and "Signed in" in page
    assert "this device" in page
    # The sessions section: two live sessions, each with its own button.
    assert client.get("/account/sessions").get_data(as_text=True).count("Sign out<span") == 2
    attempts = db_rows(app, select(LoginAttempt.ip, LoginAttempt.success).order_by(LoginAttempt.id))
    assert [(a.ip, a.success) for a in attempts] == [
        ("198.51.100.7", False),
        ("198.51.100.7", True),
        ("203.0.113.5", True),
    ]


def test_change_password_needs_current_one_ends_other_sessions_and_sends_notice(app, smtp):
    create_user(app, "erin@example.com")
    first = logged_in_client(app, "erin@example.com")
    second = logged_in_client(app, "erin@example.com")

    wrong = post_account_form(
        first, "/account/password", {"current_password": "not it at all!!", "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 400 and "current password is not correct" in wrong.get_data(as_text=True)

    response = post_account_form(
        first, "/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert first.get("/account").status_code == 200  # this session stays
    assert second.get("/account").status_code == 302  # every other one ends
    # The second browser's first sign-in also sent a new-browser notice (portal.mfa.browsers).
    [notice] = [m for m in smtp.wait_for(2) if "password was changed" in m["Subject"]]
    assert notice["To"] == "erin@example.com"
    fresh = app.test_client()
    assert login(fresh, "erin@example.com", PASSWORD).status_code == 400
    assert login(fresh, "erin@example.com", NEW_PASSWORD).status_code == 302


def test_change_email_confirms_new_address_and_notifies_old_one(app, smtp):
    create_user(app, "fred@example.com")
    client = logged_in_client(app, "fred@example.com")
    wrong = post_account_form(client, "/account/email", {"password": "bad password 123", "new_email": "f2@example.com"})
    assert wrong.status_code == 400
    response = post_account_form(client, "/account/email", {"password": PASSWORD, "new_email": "f2@example.com"})
    assert response.status_code == 302
    # Not changed until the new address confirms.
    assert [r.email for r in db_rows(app, select(User.email))] == ["fred@example.com"]
    path = link_from(smtp, "f2@example.com", "/account/email/confirm/")
    assert client.get(path).status_code == 302
    assert [r.email for r in db_rows(app, select(User.email))] == ["f2@example.com"]
    notice = smtp.to("fred@example.com")[-1]
    assert "email address was changed" in notice["Subject"] and "f2@example.com" in text_part(notice)
    assert client.get(path).status_code == 400  # single use


def test_change_email_to_a_taken_address_tells_its_owner_only(app, smtp):
    create_user(app, "gina@example.com")
    create_user(app, "taken@example.com")
    client = logged_in_client(app, "gina@example.com")
    response = post_account_form(client, "/account/email", {"password": PASSWORD, "new_email": "taken@example.com"})
    assert response.status_code == 302  # the same answer as for a free address
    [message] = smtp.wait_for(1)
    assert message["To"] == "taken@example.com" and "/account/email/confirm/" not in text_part(message)


def test_sessions_page_revokes_one_and_all_others(app, smtp):
    create_user(app, "hana@example.com")
    me = logged_in_client(app, "hana@example.com")
    b = logged_in_client(app, "hana@example.com")
    c = logged_in_client(app, "hana@example.com")
    page = me.get("/account/sessions").get_data(as_text=True)
    assert page.count('name="session_id"') == 3
    ids = db_rows(app, select(LoginSession.id).order_by(LoginSession.id))
    b_id = ids[1].id
    token = csrf_token(me, "/account/sessions")
    assert me.post("/account/sessions/revoke", data={"csrf_token": token, "session_id": str(b_id)}).status_code == 302
    assert b.get("/account").status_code == 302 and c.get("/account").status_code == 200
    # Someone else's session id cannot be ended from here.
    create_user(app, "ivan@example.com")
    ivan = logged_in_client(app, "ivan@example.com")
    ivan_id = db_rows(app, select(LoginSession.id).order_by(LoginSession.id.desc()))[0].id
    me.post("/account/sessions/revoke", data={"csrf_token": token, "session_id": str(ivan_id)})
    assert ivan.get("/account").status_code == 200
    assert me.post("/account/sessions/revoke", data={"csrf_token": token, "all_others": "1"}).status_code == 302
    assert c.get("/account").status_code == 302 and me.get("/account").status_code == 200


def test_logout_needs_post_with_csrf(app, smtp):
    create_user(app, "jan@example.com")
    client = logged_in_client(app, "jan@example.com")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/account").status_code == 200  # still signed in


def test_cookies_off_login_says_cookies_are_required(app):
    client = app.test_client(use_cookies=False)
    page = client.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"csrf_token": token, "email": "a@example.com", "password": "x" * 12})
    assert response.status_code == 400
    assert "Cookies are required to sign in" in response.get_data(as_text=True)


def test_next_accepts_same_site_paths_only(app, smtp):
    create_user(app, "kim@example.com")
    client = app.test_client()
    assert login(client, "kim@example.com", next="/account/sessions").headers["Location"] == "/account/sessions"
    for target in (
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:evil.example",
        "%2F%2Fevil.example",
    ):
        client = app.test_client()
        response = login(client, "kim@example.com", next=target)
        assert response.status_code == 302
        assert response.headers["Location"] == "/account", target


def test_login_page_redirect_for_protected_page_keeps_next(client):
    response = client.get("/account/sessions")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_create_admin_command(app, runner):
    result = runner.invoke(
        args=["users", "create-admin", "root@example.com", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "root@example.com is an administrator" in result.output
    rows = db_rows(app, select(User.is_admin, User.confirmed_at))
    assert rows[0].is_admin and rows[0].confirmed_at is not None
    client = app.test_client()
    assert login(client, "root@example.com").status_code == 302
    # An existing account is promoted without asking for a password.
    create_user(app, "staff@example.com")
    assert runner.invoke(args=["users", "create-admin", "staff@example.com"]).exit_code == 0
    # Bad input: a clear message and a non-zero exit, never a traceback.
    for args, stdin in ((["not-an-email"], PASSWORD + "\n"), (["new@example.com"], "short\n")):
        result = runner.invoke(args=["users", "create-admin", *args, "--password-stdin"], input=stdin)
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert "Error:" in result.output

