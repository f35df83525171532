"""What is worked out once per process (asset URLs, fixed headers, User-Agent descriptions, which
functions are plain) never carries one person's data to another: tokens, nonces and emails stay
per request and per person."""

from __future__ import annotations

import re

from portal.static_files import content_hash
from tests.accounts_support import create_user, logged_in_client
from tests.helpers import CSRF

NONCE = re.compile(r'nonce="([^"]+)"')
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
BANNER = {"GA_MEASUREMENT_ID": "G-CACHE12345", "SMARTCHAT_KEY": "k", "SMARTCHAT_SCRIPT_URL": "https://chat.example/l.js"}


def _token(html):
    match = CSRF.search(html)
    assert match
    return match.group(1) or match.group(2)


def test_two_visitors_never_share_a_token_or_a_nonce(make_app):
    app = make_app(**BANNER)
    first, second = app.test_client(), app.test_client()
    pages = [c.get("/").get_data(as_text=True) for c in (first, second, first, second)]
    assert all("consent-banner" in page for page in pages)
    tokens = [_token(page) for page in pages]
    nonces = [NONCE.findall(page)[0] for page in pages]
    assert len(set(nonces)) == 4  # a new nonce for every response
    assert tokens[0] != tokens[1]
    # Each page's CSP names exactly its own nonce.
    response = second.get("/")
    assert f"'nonce-{NONCE.findall(response.get_data(as_text=True))[0]}'" in response.headers["Content-Security-Policy"]
    # A token from the first visitor's page is no good in the second visitor's browser.
    refused = second.post("/consent", data={"csrf_token": tokens[0], "action": "reject_all", "next": "/"})
    assert refused.status_code == 400
    accepted = second.post("/consent", data={"csrf_token": tokens[1], "action": "reject_all", "next": "/"})
    assert accepted.status_code in (302, 303)


def test_asset_urls_name_the_current_content_and_are_the_same_for_everyone(make_app):
    from pathlib import Path

    app = make_app()
    urls = [ASSET.findall(app.test_client().get(path).get_data(as_text=True)) for path in ("/", "/login", "/")]
    assert urls[0] and urls[0] == urls[2]
    for url in urls[0]:
        name, version = re.match(r"/static/([^?]+)\?v=([0-9a-f]+)", url).groups()  # type: ignore[union-attr]
        assert version == content_hash(Path(app.static_folder) / name)


def test_signed_in_pages_show_each_person_only_their_own_data(make_app):
    app = make_app()
    create_user(app, "ann@example.com")
    create_user(app, "bob@example.com")
    ann, bob = logged_in_client(app, "ann@example.com"), logged_in_client(app, "bob@example.com")
    seen = {}
    for _ in range(2):
        for name, client in (("ann", ann), ("bob", bob)):
            html = client.get("/account").get_data(as_text=True)
            assert f"{name}@example.com" in html
            assert ("bob" if name == "ann" else "ann") + "@example.com" not in html
            seen.setdefault(name, set()).add(_token(html))
    assert not seen["ann"] & seen["bob"]


def test_each_session_is_described_from_its_own_browser(make_app):
    from tests.accounts_support import login

    app = make_app()
    create_user(app, "two@example.com")
    agents = {"Firefox on Linux": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
              "Chrome on Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                   "Chrome/130.0.0.0 Safari/537.36"}
    clients = []
    for agent in agents.values():
        client = app.test_client()
        client.environ_base["HTTP_USER_AGENT"] = agent
        assert login(client, "two@example.com").status_code == 302
        clients.append(client)
    for client in clients + clients:  # the second time round, the descriptions come from the cache
        shown = re.findall(r"<strong>([^<]+)</strong>", client.get("/account/sessions").get_data(as_text=True))
        assert sorted(shown) == sorted(agents)


def test_portal_flask_remembers_plain_functions_and_still_wraps_coroutines(app):
    calls = []

    def plain():
        return "plain"

    async def coroutine():
        return "coroutine"

    app.async_to_sync = lambda func: calls.append(func) or (lambda: "wrapped")
    assert app.ensure_sync(plain) is plain and app.ensure_sync(plain) is plain
    assert app.sync_functions[plain] is True
    assert app.ensure_sync(coroutine)() == "wrapped" and app.ensure_sync(coroutine)() == "wrapped"
    assert calls == [coroutine, coroutine]  # wrapped each time it is asked, as Flask does
