"""Public pages kept for visitors who bring nothing of their own (portal.page_cache): each
response still gets its own CSRF token, session and nonce; the kept copy holds none of them and
follows the address, language and consent registry; anyone with something of their own (a
flashed message, a sign-in, a consent decision) gets a page rendered for them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import template_rendered

from portal import page_cache
from portal.consent import registry
from tests.accounts_support import create_user, logged_in_client
from tests.consent_support import ALL_VENDORS, decide, nonce_of

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PAGES = ("/", "/login", "/signup", "/reset-password", "/privacy", "/cookies")


@pytest.fixture
def vendors_app(make_app: Any) -> Any:
    return make_app(**ALL_VENDORS)


@contextmanager
def renders(app: Any) -> Iterator[list[str]]:
    names: list[str] = []

    def record(sender: Any, template: Any, context: Any, **extra: Any) -> None:
        names.append(template.name)

    with template_rendered.connected_to(record, app):
        yield names


def _kept(app: Any) -> dict[Any, str]:
    return dict(app.extensions[page_cache.CACHE])


@pytest.mark.parametrize("path", PAGES)
def test_the_second_visitor_gets_the_kept_page_with_their_own_token_and_nonce(vendors_app, path):
    first, second = vendors_app.test_client(), vendors_app.test_client()
    one = first.get(path)
    with renders(vendors_app) as rendered:
        two = second.get(path)
    assert rendered == []  # not rendered again
    assert one.status_code == two.status_code == 200
    page_one, page_two = one.get_data(as_text=True), two.get_data(as_text=True)
    tokens_one, tokens_two = set(TOKEN.findall(page_one)), set(TOKEN.findall(page_two))
    assert len(tokens_one) == len(tokens_two) == 1 and tokens_one != tokens_two
    assert tokens_one.pop() not in page_two
    assert nonce_of(one) != nonce_of(two) and nonce_of(one) not in page_two
    assert f'nonce="{nonce_of(two)}"' in page_two
    assert page_two.replace(nonce_of(two), "N").replace(tokens_two.pop(), "T") == \
        page_one.replace(nonce_of(one), "N").replace(TOKEN.findall(page_one)[0], "T")
    # The kept page still starts this visitor's own session (their CSRF secret).
    assert any(c.startswith(vendors_app.config["SESSION_COOKIE_NAME"] + "=") for c in two.headers.getlist("Set-Cookie"))
    for shell in _kept(vendors_app).values():
        assert page_cache.NONCE_SLOT in shell and nonce_of(one) not in shell and nonce_of(two) not in shell
        assert not TOKEN.search(shell.replace(page_cache.TOKEN_SLOT, ""))


def test_each_kept_token_works_for_its_own_session_only(vendors_app):
    first, second = vendors_app.test_client(), vendors_app.test_client()
    first.get("/")
    token = TOKEN.findall(second.get("/").get_data(as_text=True))[0]
    refused = first.post("/consent", data={"action": "reject_all", "next": "/", "csrf_token": token})
    assert refused.status_code == 400
    accepted = second.post("/consent", data={"action": "reject_all", "next": "/", "csrf_token": token})
    assert accepted.status_code in (302, 303)
    # A returning visitor whose session holds only the CSRF secret gets the kept page too, with
    # their own session's token; after a decision, a page of their own without the banner.
    visitor = vendors_app.test_client()
    visitor.get("/login")
    with renders(vendors_app) as rendered:
        for _ in range(3):
            again = visitor.get("/login").get_data(as_text=True)
    assert rendered == []
    with visitor.session_transaction() as session:
        assert set(session) <= {"csrf_token", "_fresh"} and session.get("_fresh") is not True
    assert visitor.post("/consent", data={"action": "reject_all", "next": "/",
                                          "csrf_token": TOKEN.findall(again)[0]}).status_code in (302, 303)
    with renders(vendors_app) as rendered:
        decided = visitor.get("/").get_data(as_text=True)
    assert rendered and 'id="consent-banner"' not in decided


def test_the_kept_page_follows_the_address_and_the_language(vendors_app):
    client = vendors_app.test_client
    assert "Přihlásit se" in client().get("/login", headers={"Accept-Language": "cs"}).get_data(as_text=True)
    assert "Přihlásit se" not in client().get("/login").get_data(as_text=True)
    assert "Přihlásit se" in client().get("/login?lang=cs").get_data(as_text=True)
    with_next = client().get("/login?next=/account/security").get_data(as_text=True)
    assert 'action="/login?next=/account/security"' in with_next
    assert 'action="/login"' in client().get("/login").get_data(as_text=True)
    said = "Global Privacy Control signal. We treat it"
    assert said not in client().get("/cookies").get_data(as_text=True)
    assert said in client().get("/cookies", headers={"Sec-GPC": "1"}).get_data(as_text=True)
    assert said not in client().get("/cookies").get_data(as_text=True)
    gpc = client().get("/", headers={"Sec-GPC": "1"}).get_data(as_text=True)
    assert 'id="consent-banner"' not in gpc and 'id="consent-banner"' in client().get("/").get_data(as_text=True)
    assert len({key[3] for key in _kept(vendors_app)}) == 2  # en and cs


def test_a_new_registry_revision_renders_anew(vendors_app):
    assert 'name="chat"' in vendors_app.test_client().get("/").get_data(as_text=True)
    config = {**vendors_app.config, "SMARTCHAT_KEY": None, "SMARTCHAT_SCRIPT_URL": None}
    vendors_app.extensions["consent_registry"] = registry.build(config)
    page = vendors_app.test_client().get("/").get_data(as_text=True)
    assert 'id="consent-banner"' in page and 'name="chat"' not in page


def test_a_flashed_message_is_shown_to_its_visitor_only(vendors_app):
    vendors_app.test_client().get("/")  # a kept home page
    visitor = vendors_app.test_client()
    with visitor.session_transaction() as session:
        session["_flashes"] = [("success", "Only for this visitor")]
    assert "Only for this visitor" in visitor.get("/").get_data(as_text=True)
    assert "Only for this visitor" not in vendors_app.test_client().get("/").get_data(as_text=True)
    assert all("Only for this visitor" not in shell for shell in _kept(vendors_app).values())


def test_a_message_a_view_flashes_and_shows_at_once_is_not_kept(vendors_app, monkeypatch):
    from flask import flash

    from portal.main import views

    def home() -> str:
        flash("Shown at once")
        return views.render_template("main/home.html")

    monkeypatch.setitem(vendors_app.view_functions, "main.home", home)
    assert "Shown at once" in vendors_app.test_client().get("/").get_data(as_text=True)
    assert _kept(vendors_app) == {}


def test_signed_in_people_and_decided_visitors_get_their_own_pages(vendors_app, smtp):
    anonymous = vendors_app.test_client().get("/").get_data(as_text=True)
    assert "Create an account" in anonymous
    create_user(vendors_app, "kept@example.com")
    person = logged_in_client(vendors_app, "kept@example.com")
    page = person.get("/").get_data(as_text=True)
    assert "Go to your account" in page and "Create an account" not in page
    assert person.get("/login").status_code == 302
    decided = vendors_app.test_client()
    decide(decided, "accept_all")
    with renders(vendors_app) as rendered:
        page = decided.get("/").get_data(as_text=True)
    assert rendered and 'id="consent-banner"' not in page and "data-consent-service" in page
    assert all("kept@example.com" not in shell for shell in _kept(vendors_app).values())


def test_visitors_with_the_same_decision_share_a_page_with_their_own_nonce(vendors_app):
    accepted_a, accepted_b, rejected = (vendors_app.test_client() for _ in range(3))
    decide(accepted_a, "accept_all")
    decide(accepted_b, "accept_all")
    decide(rejected, "reject_all")
    for client in (accepted_a, accepted_b, rejected):
        client.get("/")  # the "choice saved" message, shown once
    page_a = accepted_a.get("/login")
    with renders(vendors_app) as rendered:
        page_b = accepted_b.get("/login")
    assert rendered == []
    html_b = page_b.get_data(as_text=True)
    assert 'id="consent-banner"' not in html_b and 'data-consent-service="ga4"' in html_b
    assert f'nonce="{nonce_of(page_b)}" data-consent-service="ga4"' in html_b and nonce_of(page_a) not in html_b
    assert "googletagmanager.com" in page_b.headers["Content-Security-Policy"]  # widened per response
    with renders(vendors_app) as rendered:
        html_r = rejected.get("/login").get_data(as_text=True)
    assert rendered and "data-consent-service" not in html_r and 'id="consent-banner"' not in html_r
    # The cookie page shows the decision itself (its reference): always the visitor's own.
    ids = []
    for client in (accepted_a, accepted_b):
        cookies_page = client.get("/cookies").get_data(as_text=True)
        ids.append(re.search(r"<code>([0-9a-f]{32})</code>", cookies_page).group(1))
    assert ids[0] != ids[1]
    assert all(i not in shell for i in ids for shell in _kept(vendors_app).values())


def test_only_plain_successful_pages_are_kept_and_the_cap_holds(vendors_app, monkeypatch):
    client = vendors_app.test_client()
    assert client.post("/login", data={}).status_code == 400  # a POST: never kept
    client.get("/no-such-page")
    assert _kept(vendors_app) == {}
    monkeypatch.setattr(page_cache, "MAX_ENTRIES", 2)
    for n in range(5):
        vendors_app.test_client().get(f"/login?next=/account/{n}")
        assert len(_kept(vendors_app)) <= 2
    assert any("/login?next=/account/4" in key for key in _kept(vendors_app))  # the newest is kept
    page = vendors_app.test_client().get("/login?next=/account/4").get_data(as_text=True)
    assert 'action="/login?next=/account/4"' in page


def test_the_public_pages_have_no_hook_the_kept_page_would_skip(vendors_app):
    # serve() answers from the last app-wide before_request hook: a blueprint's own hook for one
    # of these pages would not run for a kept page.
    blueprints = {endpoint.split(".")[0] for endpoint in page_cache.ENDPOINTS}
    assert not blueprints & set(vendors_app.before_request_funcs)
    assert vendors_app.before_request_funcs[None][-1] is page_cache.serve
    assert vendors_app.after_request_funcs[None][-1] is page_cache.keep
    assert set(vendors_app.view_functions) >= page_cache.ENDPOINTS
