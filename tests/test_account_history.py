"""The account pages cost the same whatever a person's history: capped lists, keyset "show more"."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from portal.db import utcnow
from tests.accounts_support import create_user, logged_in_client
from tests.history_support import add_history, statements

SIGNED_IN_PAGES = ["/account", "/account/security", "/account/sessions", "/account/email", "/account/data",
                   "/account/sign-ins", "/account/data/cookie-choices", "/account/data/newsletter-history"]
ROWS = re.compile(r"<tr><td|<tr>\s*<td")
OLDER = re.compile(r'href="(/account[^"?]*\?after=[^"]+)"[^>]*>([^<]+)<')


def _queries(app, client, path):
    client.get(path)  # the first visit may write last-seen; count a steady request
    with statements(app) as seen:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(seen), response.get_data(as_text=True)


def test_every_account_page_sends_the_same_queries_with_10_or_2000_rows(make_app):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    add_history(app, create_user(app, "light@example.com"), 10)
    add_history(app, create_user(app, "heavy@example.com"), 2000)
    light, heavy = logged_in_client(app, "light@example.com"), logged_in_client(app, "heavy@example.com")
    for path in SIGNED_IN_PAGES:
        light_count, _ = _queries(app, light, path)
        heavy_count, page = _queries(app, heavy, path)
        assert light_count == heavy_count, path
        assert len(ROWS.findall(page)) <= 25, path  # a page of rows, never the whole history
    # The overview lists ten sessions and three sign-ins at most.
    _, overview = _queries(app, heavy, "/account")
    assert overview.count("· last active") == 10


def _walk(client, path):
    """Follow "Older ..." links from ``path`` to the end; every row's text, in page order."""
    seen, pages = [], 0
    while path:
        response = client.get(path)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        seen += re.findall(r"<tr><td[^>]*><span class=\"nowrap\">([^<]+)</span>", html)
        older = [href for href, label in OLDER.findall(html) if label.startswith("Older")]
        path = older[0].replace("&amp;", "&") if older else None
        pages += 1
        assert pages < 20
    return seen, pages


@pytest.mark.parametrize("start", ["/account/sign-ins", "/account/data/cookie-choices",
                                   "/account/data/newsletter-history"])
def test_show_more_walks_the_whole_history_once_newest_first(make_app, start):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    user_id = create_user(app, "walker@example.com")
    add_history(app, user_id, 60, start_seconds=3600)
    add_history(app, create_user(app, "someone@example.com"), 30)  # never on walker's pages
    client = logged_in_client(app, "walker@example.com")
    times, pages = _walk(client, start)
    expected = 60 + (1 if start == "/account/sign-ins" else 0)  # signing in adds one
    assert pages == 3 and len(times) == expected
    # Newest first, by the time shown (as text "9:38 PM" sorts after "10:38 PM").
    shown = [datetime.strptime(text.replace("\u202f", " "), "%b %d, %Y %I:%M %p") for text in times]
    assert shown == sorted(shown, reverse=True)


def test_sessions_page_pages_through_live_sessions_only(make_app):
    from portal.accounts.models import LoginSession
    from portal.extensions import db

    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    user_id = create_user(app, "many@example.com")
    add_history(app, user_id, 40)
    with app.app_context():  # one session idle for longer than the idle timeout: not listed
        old = db.session.scalars(db.select(LoginSession).where(LoginSession.user_id == user_id)).first()
        old.last_seen_at = utcnow() - timedelta(seconds=app.config["SESSION_IDLE_TIMEOUT"] + 5)
        db.session.commit()
    client = logged_in_client(app, "many@example.com")
    first = client.get("/account/sessions").get_data(as_text=True)
    assert first.count('name="session_id"') == 25
    more = [href for href, label in OLDER.findall(first) if label.startswith("Older")]
    second = client.get(more[0].replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('name="session_id"') == 40 + 1 - 1 - 25  # + this sign-in, - the idle one
    assert not [label for _, label in OLDER.findall(second) if label.startswith("Older")]
    assert "Sign out every other session" in second


@pytest.mark.parametrize("after", ["x", "1-", "-1", "1-2-3", "9" * 18 + "-1", "\uff11-1", "1-1\x00", "1-" + "1" * 13,
                                   "1 -1", "0x1-1", "1-1" * 20, "1-2147483648"])
def test_a_cursor_we_did_not_make_is_a_400(make_app, after):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    create_user(app, "cursor@example.com")
    client = logged_in_client(app, "cursor@example.com")
    for path in ("/account/sessions", "/account/sign-ins", "/account/data/cookie-choices",
                 "/account/data/newsletter-history"):
        response = client.get(path, query_string={"after": after})
        assert response.status_code == 400, (path, after)
        assert "That page link is not valid" in response.get_data(as_text=True)


def test_a_cursor_far_in_the_future_or_past_is_just_a_page(make_app):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    create_user(app, "edges@example.com")
    client = logged_in_client(app, "edges@example.com")
    for after in ("99999999999999999-1", "0-0", "1-2147483647"):
        assert client.get("/account/sign-ins", query_string={"after": after}).status_code == 200


def test_history_pages_need_a_sign_in(client):
    for path in ("/account/sign-ins", "/account/data/cookie-choices", "/account/data/newsletter-history"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# What each page reads, once last-seen is fresh: the person with their session in one statement,
# then the page's own lists (BEGIN is counted where the store sends it).
QUERIES = {"/account": 4, "/account/security": 4, "/account/sessions": 2, "/account/email": 2,
           "/account/data": 3, "/account/sign-ins": 2}


def test_a_signed_in_page_loads_the_person_once_and_only_what_it_shows(make_app, backend):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    add_history(app, create_user(app, "counted@example.com"), 5)
    client = logged_in_client(app, "counted@example.com")
    for path, expected in QUERIES.items():
        client.get(path)
        with statements(app) as seen:
            assert client.get(path).status_code == 200
        sql = [s for s, _ in seen if not s.strip().upper().startswith(("BEGIN", "SAVEPOINT"))]
        assert len(sql) == expected, (path, sql)
        assert sum("WHERE login_sessions.token_hash =" in " ".join(s.split()) for s in sql) == 1, path
