"""Server-side login sessions: fixation, replay, idle and absolute expiry, hashed ids, purge."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlalchemy import select, update

from portal.accounts.models import LoginSession
from portal.db import utcnow
from tests.accounts_support import (
    cookie_value,
    create_user,
    db_exec,
    db_rows,
    link_from,
    logged_in_client,
    login,
    post_account_form,
    set_ip,
)
from tests.helpers import PASSWORD, post_form

NEW_PASSWORD = "orange giraffe whispering softly 31"


def _replay(app, raw: str):
    """A fresh browser presenting a copied session cookie."""
    thief = app.test_client()
    thief.set_cookie("portal_sid", raw)
    return thief.get("/account")


def test_session_id_changes_at_every_login(app, smtp):
    create_user(app, "sam@example.com")
    client = app.test_client()
    client.set_cookie("portal_sid", "attacker-chosen-session-id-value")  # planted before login
    assert login(client, "sam@example.com").status_code == 302
    first = cookie_value(client)
    assert first and first != "attacker-chosen-session-id-value"
    # Signing in again from an already signed-in browser also gets a new id.
    again = post_form(client, "/login", {"email": "sam@example.com", "password": PASSWORD}, token_from="/account")
    assert again.status_code == 302
    second = cookie_value(client)
    assert second and second != first
    flask_cookie = client.get_cookie("session")
    assert flask_cookie is None or "sam@example.com" not in flask_cookie.value


def test_session_cookie_flags_and_database_keeps_only_the_hash(app, smtp):
    create_user(app, "sam@example.com")
    client = set_ip(app.test_client(), "203.0.113.9")
    response = login(client, "sam@example.com", headers={"User-Agent": "TestBrowser/1.0"})
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("portal_sid="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    raw = cookie_value(client)
    # >= 128 bits of randomness: 32 random bytes, URL-safe base64 without padding.
    assert len(raw) >= 43
    import base64

    assert len(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))) * 8 >= 128
    rows = db_rows(app, select(LoginSession))
    [record] = [r[0] for r in rows]
    assert record.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (record.token_hash, record.ip, record.user_agent)
    assert record.ip == "203.0.113.9" and record.user_agent == "TestBrowser/1.0"


def test_production_cookie_is_secure_host_prefixed(make_app, smtp):
    app = make_app(ENV="production", BASE_URL="https://portal.example")
    create_user(app, "sam@example.com")
    client = app.test_client()
    page = client.get("/login", base_url="https://portal.example").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "sam@example.com", "password": PASSWORD},
        base_url="https://portal.example",
        headers={"Referer": "https://portal.example/login"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-sid="))
    assert "Secure" in header and "HttpOnly" in header and "Domain" not in header


def test_copied_cookie_is_dead_after_logout(app, smtp):
    create_user(app, "sam@example.com")
    client = logged_in_client(app, "sam@example.com")
    raw = cookie_value(client)
    assert _replay(app, raw).status_code == 200  # the copy works while the session lives
    post_form(client, "/logout", {}, token_from="/account")
    assert _replay(app, raw).status_code == 302
    assert db_rows(app, select(LoginSession.id)) == []


def test_copied_cookie_is_dead_after_a_password_change_elsewhere(app, smtp):
    create_user(app, "sam@example.com")
    stolen = cookie_value(logged_in_client(app, "sam@example.com"))
    owner = logged_in_client(app, "sam@example.com")
    response = post_account_form(
        owner, "/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert _replay(app, stolen).status_code == 302
    assert owner.get("/account").status_code == 200


def test_copied_cookie_is_dead_after_a_reset(app, smtp):
    create_user(app, "sam@example.com")
    stolen = cookie_value(logged_in_client(app, "sam@example.com"))
    post_form(set_ip(app.test_client(), "192.0.2.77"), "/reset-password", {"email": "sam@example.com"})
    path = link_from(smtp, "sam@example.com", "/reset-password/")
    assert post_form(app.test_client(), path, {"password": NEW_PASSWORD}).status_code == 302
    assert _replay(app, stolen).status_code == 302


def test_idle_timeout_is_checked_on_the_server(make_app, smtp):
    app = make_app(SESSION_IDLE_TIMEOUT=600, SESSION_MAX_AGE=86400)
    create_user(app, "sam@example.com")
    client = logged_in_client(app, "sam@example.com")
    db_exec(app, update(LoginSession).values(last_seen_at=utcnow() - timedelta(seconds=590)))
    assert client.get("/account").status_code == 200  # still inside, and this request counts as activity
    [seen] = db_rows(app, select(LoginSession.last_seen_at))
    assert utcnow() - seen.last_seen_at < timedelta(seconds=10)
    db_exec(app, update(LoginSession).values(last_seen_at=utcnow() - timedelta(seconds=601)))
    response = client.get("/account")
    assert response.status_code == 302
    assert cookie_value(client) is None  # the dead cookie is dropped from the browser too
    assert db_rows(app, select(LoginSession.id)) == []


def test_absolute_lifetime_ends_a_busy_session(make_app, smtp):
    app = make_app(SESSION_IDLE_TIMEOUT=600, SESSION_MAX_AGE=3600)
    create_user(app, "sam@example.com")
    client = logged_in_client(app, "sam@example.com")
    raw = cookie_value(client)
    # Active a second ago, but logged in just over an hour ago.
    db_exec(
        app,
        update(LoginSession).values(
            created_at=utcnow() - timedelta(seconds=3601), last_seen_at=utcnow() - timedelta(seconds=1)
        ),
    )
    assert client.get("/account").status_code == 302
    assert _replay(app, raw).status_code == 302


def test_expiry_with_real_short_timeouts(make_app, smtp):
    import time

    app = make_app(SESSION_IDLE_TIMEOUT=2, SESSION_MAX_AGE=3)
    create_user(app, "sam@example.com")
    client = logged_in_client(app, "sam@example.com")
    assert client.get("/account").status_code == 200
    time.sleep(2.1)
    assert client.get("/account").status_code == 302


def test_purge_removes_expired_sessions_only(make_app, smtp):
    app = make_app(SESSION_IDLE_TIMEOUT=600, SESSION_MAX_AGE=3600)
    create_user(app, "sam@example.com")
    logged_in_client(app, "sam@example.com")
    logged_in_client(app, "sam@example.com")
    live = logged_in_client(app, "sam@example.com")
    ids = [r.id for r in db_rows(app, select(LoginSession.id).order_by(LoginSession.id))]
    db_exec(
        app,
        update(LoginSession).where(LoginSession.id == ids[0]).values(last_seen_at=utcnow() - timedelta(seconds=700)),
    )
    db_exec(
        app, update(LoginSession).where(LoginSession.id == ids[1]).values(created_at=utcnow() - timedelta(seconds=4000))
    )
    from portal.accounts import sessions

    with app.app_context():
        assert sessions.purge_expired() == 2
    assert [r.id for r in db_rows(app, select(LoginSession.id))] == [ids[2]]
    assert live.get("/account").status_code == 200


def test_garbage_session_cookies_are_ignored(app, smtp):
    for value in ("", "x", "A" * 4000, "\x00\x01", "é😀", "' OR 1=1 --", "../../etc/passwd"):
        client = app.test_client()
        client.set_cookie("portal_sid", value)
        client.set_cookie("session", value)
        for path in ("/", "/account", "/login"):
            response = client.get(path)
            assert response.status_code in (200, 302), (value, path)


def test_loading_the_user_never_commits_another_views_pending_work(make_app, smtp):
    from flask_login import current_user

    from portal.accounts.models import LoginAttempt
    from portal.extensions import db

    app = make_app(SESSION_IDLE_TIMEOUT=600)

    @app.get("/_pending_then_user")
    def pending_then_user():
        db.session.add(LoginAttempt(ip="192.0.2.250", email_key="k" * 64, outcome="failure"))
        user_id = current_user.id  # the first look at the user, with work pending
        db.session.rollback()  # the view changes its mind
        return str(user_id)

    uid = create_user(app, "sam@example.com")
    client = logged_in_client(app, "sam@example.com")
    db_exec(app, update(LoginSession).values(last_seen_at=utcnow() - timedelta(seconds=120)))  # an update is due
    assert client.get("/_pending_then_user").get_data(as_text=True) == str(uid)
    assert db_rows(app, select(LoginAttempt.id).where(LoginAttempt.ip == "192.0.2.250")) == []
    assert client.get("/account").status_code == 200


def test_retention_rules_purge_expired_sessions_and_old_login_records(make_app, smtp):
    from portal import personal_data
    from portal.accounts.models import LoginAttempt

    app = make_app(SESSION_IDLE_TIMEOUT=600, LOGIN_IP_RETENTION_DAYS=30)
    create_user(app, "sam@example.com")
    logged_in_client(app, "sam@example.com")
    live = logged_in_client(app, "sam@example.com")
    first = db_rows(app, select(LoginSession.id).order_by(LoginSession.id))[0].id
    db_exec(
        app, update(LoginSession).where(LoginSession.id == first).values(last_seen_at=utcnow() - timedelta(seconds=601))
    )
    oldest = db_rows(app, select(LoginAttempt.id).order_by(LoginAttempt.id))[0].id
    db_exec(app, update(LoginAttempt).where(LoginAttempt.id == oldest).values(at=utcnow() - timedelta(days=31)))
    rules = {rule.kind: rule for rule in personal_data.retention_rules(app)}
    with app.app_context():
        assert rules["expired login sessions"].purge() == 1
        assert rules["login attempts (with IP addresses)"].purge() == 1
    assert len(db_rows(app, select(LoginSession.id))) == 1 and live.get("/account").status_code == 200
    assert [r.id for r in db_rows(app, select(LoginAttempt.id))] == [oldest + 1]


def test_retention_rule_erases_accounts_never_confirmed(make_app, smtp):
    from portal import personal_data
    from portal.accounts.models import User

    app = make_app(UNCONFIRMED_ACCOUNT_RETENTION_DAYS=7)
    create_user(app, "never@example.com", confirmed=False)
    create_user(app, "recent@example.com", confirmed=False)
    create_user(app, "kept@example.com")
    old = utcnow() - timedelta(days=8)
    db_exec(
        app, update(User).where(User.email_key.in_(["never@example.com", "kept@example.com"])).values(created_at=old)
    )
    rule = {r.kind: r for r in personal_data.retention_rules(app)}["unconfirmed accounts"]
    with app.app_context():
        assert rule.purge() == 1
    assert sorted(r.email_key for r in db_rows(app, select(User.email_key))) == [
        "kept@example.com",
        "recent@example.com",
    ]
