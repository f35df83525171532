"""Issue 12 without a browser: delivery headers, Global Privacy Control, the banner's reason for
coming back, every signup error at once, post/redirect/get, sessions people can read."""

from __future__ import annotations

import re

from tests.accounts_support import create_user, logged_in_client
from tests.consent_support import ALL_VENDORS, decide
from tests.helpers import post_form


def test_versioned_static_files_are_immutable_and_compressed(client):
    page = client.get("/").get_data(as_text=True)
    url = re.search(r'href="(/static/portal\.css\?v=[0-9a-f]{12})"', page).group(1)
    for encoding in ("br", "gzip"):
        response = client.get(url, headers={"Accept-Encoding": encoding})
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Content-Encoding"] == encoding
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()
    for stale in ("/static/portal.css", "/static/portal.css?v=000000000000"):
        response = client.get(stale)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache", stale
        response.close()
    assert 'rel="icon" href="/static/favicon.svg?v=' in page and '<meta name="description"' in page


def test_public_pages_may_be_kept_by_the_browser_and_personal_ones_never(app, smtp):
    client = app.test_client()
    for path in ("/", "/privacy", "/cookies", "/login"):
        assert client.get(path).headers["Cache-Control"] == "private, no-cache", path
    create_user(app, "cache@example.com")
    signed_in = logged_in_client(app, "cache@example.com")
    for path in ("/account", "/account/security", "/", "/privacy"):
        assert signed_in.get(path).headers["Cache-Control"] == "no-store", path


def test_global_privacy_control_refuses_and_hides_the_banner_until_a_choice(make_app):
    client = make_app(**ALL_VENDORS).test_client()
    gpc = {"Sec-GPC": "1"}
    page = client.get("/", headers=gpc).get_data(as_text=True)
    assert 'id="consent-banner"' not in page and "data-consent-service" not in page
    assert "Global Privacy Control signal. We treat it" in client.get("/cookies", headers=gpc).get_data(as_text=True)
    assert "Sec-GPC: 1" in client.get("/cookies").get_data(as_text=True)  # said to everyone
    decide(client, "accept_all")  # an explicit choice of their own counts
    assert "data-consent-service" in client.get("/", headers=gpc).get_data(as_text=True)


def test_the_banner_says_why_it_is_back_after_a_revision(make_app):
    old = make_app(GA_MEASUREMENT_ID="G-TEST123").test_client()
    assert "Why you are seeing this again" not in old.get("/").get_data(as_text=True)
    decide(old, "reject_all")
    cookie = old.get_cookie("portal_consent").value
    new = make_app(**ALL_VENDORS).test_client()
    new.set_cookie("portal_consent", cookie)
    page = new.get("/").get_data(as_text=True)
    assert 'id="consent-banner"' in page and "Why you are seeing this again" in page


def test_signup_reports_every_problem_at_once_and_redirects_after_success(client, smtp):
    response = post_form(client, "/signup", {"email": "not-an-address", "password": "short"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "<title>Error: " in page
    assert 'href="#email"' in page and 'href="#password"' in page
    assert 'id="email-error"' in page and 'id="password-error"' in page and 'aria-invalid="true"' in page
    assert 'id="csrf_token"' not in page
    ok = post_form(client, "/signup", {"email": "fine@example.com", "password": "correct horse battery staple 42"})
    assert ok.status_code == 303 and ok.location == "/check-inbox/signup"


def test_sessions_read_as_devices_with_the_raw_string_on_demand(app, smtp):
    create_user(app, "dev@example.com")
    client = logged_in_client(app, "dev@example.com")
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
    other = app.test_client()
    other.environ_base["HTTP_USER_AGENT"] = firefox
    post_form(other, "/login", {"email": "dev@example.com", "password": "correct horse battery staple 42"})
    page = client.get("/account/sessions").get_data(as_text=True)
    assert "Firefox on Windows" in page and "just now" in page and "this device" in page
    assert f"<code>{firefox}</code>" in page and "<details>" in page
    for path in ("/account", "/account/security", "/account/email", "/account/data"):
        assert 'aria-current="page"' in client.get(path).get_data(as_text=True), path
