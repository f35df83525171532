"""Concurrent requests on one database: no 500s (SQLite in WAL mode) and no double effects."""

from __future__ import annotations

import time

from sqlalchemy import select

from portal.accounts.models import LoginAttempt, LoginSession, User
from tests.accounts_support import (
    create_user,
    db_rows,
    link_from,
    set_ip,
)
from tests.helpers import PASSWORD, csrf_token, post_form, run_together

THREADS = 6




def test_concurrent_logins_and_failures_never_500(make_app, smtp):
    # Cost 8: each bcrypt check is long enough for the others to commit in the meantime.
    app = make_app(BCRYPT_ROUNDS=8)
    for i in range(THREADS):
        create_user(app, f"c{i}@example.com")
    clients = [set_ip(app.test_client(), f"192.0.2.{i + 1}") for i in range(THREADS)]
    tokens = [csrf_token(c, "/login") for c in clients]
    statuses: list[int] = []

    def attempts(i):
        for n in range(3):
            password = PASSWORD if n == 2 else "not the password, sorry"
            response = clients[i].post(
                "/login", data={"csrf_token": tokens[i], "email": f"c{i}@example.com", "password": password}
            )
            statuses.append(response.status_code)
        assert clients[i].get("/account").status_code == 200

    run_together(attempts, THREADS)
    assert sorted(statuses) == [302] * THREADS + [400] * (2 * THREADS)
    assert len(db_rows(app, select(LoginAttempt.id))) == 3 * THREADS
    assert len(db_rows(app, select(LoginSession.id))) == THREADS


def test_concurrent_signups_for_one_address_make_one_account(make_app, smtp):
    app = make_app()
    spellings = ["race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.com"]

    def sign_up(i):
        client = set_ip(app.test_client(), f"192.0.2.{i + 1}")
        response = post_form(client, "/signup", {"email": spellings[i], "password": PASSWORD})
        assert response.status_code == 303

    run_together(sign_up, len(spellings))
    assert len(db_rows(app, select(User.id))) == 1
    assert len(smtp.wait_for(4)) == 4  # everyone was answered by email; nobody learnt more


def test_one_reset_link_submitted_twice_at_once_resets_once(make_app, smtp):
    app = make_app(BCRYPT_ROUNDS=8)
    create_user(app, "twice@example.com")
    post_form(set_ip(app.test_client(), "192.0.2.9"), "/reset-password", {"email": "twice@example.com"})
    path = link_from(smtp, "twice@example.com", "/reset-password/")
    smtp.clear()
    clients = [app.test_client() for _ in range(2)]
    tokens = [csrf_token(c, path) for c in clients]
    statuses: list[int] = []

    def submit(i):
        response = clients[i].post(path, data={"csrf_token": tokens[i], "password": f"new passphrase number {i} ok"})
        statuses.append(response.status_code)

    run_together(submit, 2)
    assert sorted(statuses) == [302, 400]
    assert len(smtp.wait_for(1)) == 1  # one "password changed" notice


def test_concurrent_requests_with_one_session_cookie(make_app, smtp):
    app = make_app(SESSION_IDLE_TIMEOUT=2)  # last-seen is written at a 0.2 s grain: often here
    create_user(app, "tabs@example.com")
    client = set_ip(app.test_client(), "192.0.2.20")
    assert post_form(client, "/login", {"email": "tabs@example.com", "password": PASSWORD}).status_code == 302
    cookie = client.get_cookie("portal_sid").value
    statuses: list[int] = []

    def browse(i):
        tab = app.test_client()
        tab.set_cookie("portal_sid", cookie)
        for _ in range(5):
            statuses.append(tab.get("/account").status_code)
            time.sleep(0.07)

    run_together(browse, THREADS)
    assert statuses == [200] * (5 * THREADS)
