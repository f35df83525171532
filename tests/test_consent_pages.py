"""Fail-closed tag loading: what a page and its CSP contain before and after each decision."""

from __future__ import annotations

import pytest

from portal.consent.registry import known_hosts
from tests.consent_support import ALL_VENDORS, SMARTCHAT_URL, csp, decide, nonce_of, scripts, tracker_free

PAGES = ("/", "/cookies", "/login", "/signup", "/no-such-page")


@pytest.fixture
def vendors_app(make_app):
    return make_app(**ALL_VENDORS)


@pytest.fixture
def vclient(vendors_app):
    return vendors_app.test_client()


@pytest.fixture
def hosts(vendors_app):
    with vendors_app.app_context():
        return known_hosts()


def test_known_hosts_cover_every_vendor(hosts):
    assert {"www.googletagmanager.com", "*.google-analytics.com", "widget.smartchat.example"} <= hosts


@pytest.mark.parametrize("path", PAGES)
def test_no_tracker_before_a_decision(vclient, hosts, path):
    response = vclient.get(path)
    assert tracker_free(response, hosts) == []
    if response.status_code == 200 and path != "/cookies":
        assert 'id="consent-banner"' in response.get_data(as_text=True)


def test_the_cookie_page_is_the_form_itself_without_a_second_banner(vclient):
    page = vclient.get("/cookies").get_data(as_text=True)
    assert 'id="consent-banner"' not in page and "You have not made a choice yet" in page
    assert 'value="accept_all"' in page and 'value="reject_all"' in page and 'value="save"' in page


def test_banner_is_plain_forms_with_three_equal_buttons(vclient):
    page = vclient.get("/").get_data(as_text=True)
    banner = page[page.index('id="consent-banner"') :]
    banner = banner[: banner.index("</section>")]  # the footer's language buttons are not the banner's
    assert '<form method="post" action="/consent"' in banner and 'name="csrf_token"' in banner
    buttons = [line.strip() for line in banner.splitlines() if line.strip().startswith("<button")]
    assert [b.split('value="')[1].split('"')[0] for b in buttons] == ["accept_all", "reject_all", "save"]
    # The three choices of the bar: two buttons and the preferences panel's summary, drawn alike.
    settings = next(line.strip() for line in banner.splitlines() if line.strip().startswith("<summary"))
    assert ">Settings</summary>" in settings
    assert len({b.split("class=")[1].split(">")[0] for b in [*buttons[:2], settings]}) == 1
    # The panel works without a script: a <details> inside the same form, a switch per category.
    panel = banner[banner.index("<details"):banner.index("</details>")]
    assert 'name="analytics"' in panel and 'name="chat"' in panel and 'role="switch"' in panel
    assert 'aria-labelledby="consent-banner-title"' in banner and 'role="region"' in banner


def test_reject_all_keeps_every_page_clean_and_hides_the_banner(vclient, hosts):
    response = decide(vclient, "reject_all")
    assert response.status_code == 303 and response.location == "/"
    for path in PAGES:
        page = vclient.get(path)
        assert tracker_free(page, hosts) == [], path
        assert 'id="consent-banner"' not in page.get_data(as_text=True)


def test_accept_all_renders_every_tag_with_the_page_nonce(vclient):
    decide(vclient, "accept_all")
    response = vclient.get("/")
    page, policy, nonce = response.get_data(as_text=True), csp(response), nonce_of(response)
    tags = scripts(page)
    assert any("googletagmanager.com/gtag/js?id=G-TEST123" in t for t in tags)
    assert any("googletagmanager.com/gtm.js?id=GTM-TEST123" in t for t in tags)
    assert any(SMARTCHAT_URL in t and 'data-key="test-key"' in t for t in tags)
    assert all(f'nonce="{nonce}"' in t for t in tags), tags
    assert "https://www.googletagmanager.com" in policy.split("script-src")[1].split(";")[0]
    assert "https://widget.smartchat.example" in policy.split("script-src")[1].split(";")[0]
    assert "https://*.google-analytics.com" in policy.split("connect-src")[1].split(";")[0]
    assert 'id="consent-banner"' not in page


def test_consent_mode_default_denied_comes_before_any_google_tag(vclient):
    decide(vclient, "accept_all")
    response = vclient.get("/")
    page, nonce = response.get_data(as_text=True), nonce_of(response)
    default = page.index('"consent", "default"')
    for key in ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization"):
        assert f'"{key}": "denied"' in page[default : default + 200]
    assert default < page.index('"consent", "update", {"analytics_storage": "granted"}')
    assert default < page.index("googletagmanager.com/gtag/js") and default < page.index("gtm.js?id=")
    consent_mode = next(t for t in scripts(page) if "data-consent-mode" in t)
    assert f'nonce="{nonce}"' in consent_mode


def test_save_with_analytics_only_loads_google_but_not_chat(vclient, hosts):
    decide(vclient, "save", "analytics")
    response = vclient.get("/")
    page, policy = response.get_data(as_text=True), csp(response)
    assert "gtag/js?id=G-TEST123" in page and "gtm.js?id=GTM-TEST123" in page
    assert "smartchat" not in page.lower() and "smartchat" not in policy
    assert f'nonce="{nonce_of(response)}" data-consent-mode' in page


def test_save_with_chat_only_loads_chat_and_no_google_at_all(vclient):
    decide(vclient, "save", "chat")
    response = vclient.get("/")
    page, policy = response.get_data(as_text=True), csp(response)
    assert SMARTCHAT_URL in page and "https://widget.smartchat.example" in policy
    assert "google" not in page.lower().replace("google analytics", "") and "google" not in policy
    assert "gtag(" not in page


def test_withdrawal_removes_tags_hosts_and_cookies(vclient, hosts):
    decide(vclient, "accept_all")
    vclient.set_cookie("_ga", "GA1.1.123.456")
    vclient.set_cookie("_ga_TEST123", "GS1.1.1")
    vclient.set_cookie("smartchat_session", "abc")
    response = decide(vclient, "save", next="/cookies", token_from="/cookies")
    assert response.status_code == 303 and response.location == "/cookies"
    expired = {h.split("=")[0] for h in response.headers.getlist("Set-Cookie") if "Max-Age=0" in h}
    assert {"_ga", "_ga_TEST123", "_gid", "smartchat_session"} <= expired
    assert vclient.get_cookie("_ga") is None and vclient.get_cookie("smartchat_session") is None
    for path in PAGES:
        assert tracker_free(vclient.get(path), hosts) == [], path


def test_withdrawal_expires_cookies_on_the_host_and_its_parent_domain(vendors_app):
    client = vendors_app.test_client()
    base = "http://portal.example.com"
    page = client.get("/cookies", base_url=base).get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/consent", data={"action": "accept_all", "csrf_token": token}, base_url=base)
    client.set_cookie("_gat_UA1", "1", domain="portal.example.com")
    response = client.post("/consent", data={"action": "reject_all", "csrf_token": token}, base_url=base)
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("_ga=")]
    domains = {part.strip().split("=")[1] for h in headers for part in h.split(";") if "Domain=" in part}
    assert domains == {"portal.example.com", "example.com"}
    assert any("Domain=" not in h for h in headers)  # and the host-only cookie
    assert all("Max-Age=0" in h and "Path=/" in h for h in headers)
    assert any(h.startswith("_gat_UA1=;") for h in response.headers.getlist("Set-Cookie"))


def test_necessary_cookies_are_never_expired(vclient):
    decide(vclient, "accept_all")
    response = decide(vclient, "reject_all")
    names = {h.split("=")[0] for h in response.headers.getlist("Set-Cookie") if "Max-Age=0" in h}
    assert names.isdisjoint({"session", "portal_sid", "portal_consent"})
    assert vclient.get_cookie("portal_consent") is not None


def test_no_optional_service_means_no_banner_and_no_form(client):
    page = client.get("/").get_data(as_text=True)
    assert 'id="consent-banner"' not in page and "data-consent-mode" not in page
    cookies_page = client.get("/cookies").get_data(as_text=True)
    assert "nothing to choose" in cookies_page and 'name="analytics"' not in cookies_page
