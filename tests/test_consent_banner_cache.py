"""The shared copy of the consent banner (portal.consent.banner): one per registry revision and
language, holding nothing of any visitor's — each page gets its own CSRF token and return path,
and a banner that names an earlier decision is never shared."""

from __future__ import annotations

import re
from typing import Any

import pytest
from markupsafe import escape

from portal.consent import banner, registry
from tests.consent_support import ALL_VENDORS, decide

TOKEN = re.compile(r'<section class="consent-banner".*?name="csrf_token" value="([^"]+)"', re.S)


@pytest.fixture
def vendors_app(make_app: Any) -> Any:
    return make_app(**ALL_VENDORS)


def _banner_token(page: str) -> str:
    match = TOKEN.search(page)
    assert match, "no banner form"
    return match.group(1)


def _shared(app: Any) -> dict[tuple[str, str, str], str]:
    return dict(app.extensions[banner.CACHE])


def test_each_visitor_gets_their_own_token_and_the_shared_copy_holds_none(vendors_app):
    first, second = vendors_app.test_client(), vendors_app.test_client()
    page_a = first.get("/").get_data(as_text=True)
    page_b = second.get("/").get_data(as_text=True)
    token_a, token_b = _banner_token(page_a), _banner_token(page_b)
    assert token_a != token_b and token_a not in page_b and token_b not in page_a
    shared = _shared(vendors_app)
    assert len(shared) == 1
    (shell,) = shared.values()
    assert banner.TOKEN_SLOT in shell and token_a not in shell and token_b not in shell
    # Each token is the one its own session accepts, and only there.
    refused = second.post("/consent", data={"action": "reject_all", "next": "/", "csrf_token": token_a})
    assert refused.status_code == 400
    accepted = first.post("/consent", data={"action": "reject_all", "next": "/", "csrf_token": token_a})
    assert accepted.status_code in (302, 303)
    assert 'id="consent-banner"' not in first.get("/").get_data(as_text=True)


def test_the_return_path_is_the_requests_own_and_escaped(vendors_app):
    client = vendors_app.test_client()
    path = '/privacy?q=<b>"x"&lang=en'
    page = client.get(path).get_data(as_text=True)
    assert f'name="next" value="{escape(path)}"' in page
    assert 'name="next" value="/"' in client.get("/").get_data(as_text=True)
    assert all(banner.NEXT_SLOT in shell and "privacy" not in shell for shell in _shared(vendors_app).values())


def test_the_shared_copy_follows_the_language(vendors_app):
    client = vendors_app.test_client()
    english = client.get("/").get_data(as_text=True)
    czech = client.get("/?lang=cs").get_data(as_text=True)
    assert "Accept all</button>" in english and "Accept all</button>" not in czech
    assert "Přijmout vše</button>" in czech
    assert "Accept all</button>" in client.get("/").get_data(as_text=True)  # English again, not the Czech copy
    assert {language for _, language, _ in _shared(vendors_app)} == {"en", "cs"}


def test_a_new_registry_revision_gets_a_new_copy(vendors_app):
    client = vendors_app.test_client()
    assert 'name="chat"' in client.get("/").get_data(as_text=True)
    # The operator drops the chat service (a restart, in real life): a new revision.
    config = {**vendors_app.config, "SMARTCHAT_KEY": None, "SMARTCHAT_SCRIPT_URL": None}
    vendors_app.extensions["consent_registry"] = registry.build(config)
    page = client.get("/").get_data(as_text=True)
    assert 'id="consent-banner"' in page and 'name="chat"' not in page and 'name="analytics"' in page
    assert len({revision for revision, _, _ in _shared(vendors_app)}) == 2


def test_a_banner_back_after_a_revision_is_rendered_for_its_visitor_alone(make_app):
    old = make_app(GA_MEASUREMENT_ID="G-TEST123").test_client()
    decide(old, "reject_all")
    cookie = old.get_cookie("portal_consent").value
    new_app = make_app(**ALL_VENDORS)
    returning = new_app.test_client()
    returning.set_cookie("portal_consent", cookie)
    page = returning.get("/").get_data(as_text=True)
    assert "Why you are seeing this again" in page
    assert _shared(new_app) == {}
    first_visit = new_app.test_client().get("/").get_data(as_text=True)
    assert "Why you are seeing this again" not in first_visit
    assert all("seeing this again" not in shell for shell in _shared(new_app).values())
