"""The consent banner in a real browser (Debian's Chromium driven by Playwright).

Every request to a host other than the portal's loopback server is intercepted, recorded and
answered locally: nothing leaves the machine, and the record shows what a visitor's browser
would have sent to Google or SmartChat.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.consent_support import ALL_VENDORS

pytestmark = pytest.mark.browser

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
VENDOR_HOSTS = ("google", "googletagmanager", "smartchat")
TIMEOUT_MS = 10_000






@pytest.fixture
def live(make_app) -> Iterator[str]:
    """The portal with every vendor configured, served from a thread on a free loopback port."""
    app = make_app(**ALL_VENDORS)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


class Session:
    """One browser context: its page and every third-party request it tried to make."""

    def __init__(self, browser: Any, base: str, javascript: bool = True) -> None:
        self.base = base
        self.outside: list[str] = []
        self.context = browser.new_context(java_script_enabled=javascript)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.consent_posts: list[str] = []  # how each decision travelled: "fetch" or "document"
        self.page.on("request", self._seen)

    def _seen(self, request: Any) -> None:
        if request.method == "POST" and urlsplit(request.url).path == "/consent":
            self.consent_posts.append(request.resource_type)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK:
            route.continue_()
            return
        self.outside.append(url)
        if route.request.resource_type == "script":
            route.fulfill(status=200, content_type="application/javascript", body="/* intercepted */")
        else:
            route.fulfill(status=204, body="")

    def vendor_requests(self) -> list[str]:
        return [u for u in self.outside if any(v in (urlsplit(u).hostname or "") for v in VENDOR_HOSTS)]

    def open(self, path: str = "/") -> Any:
        self.page.goto(self.base + path, wait_until="load")
        return self.page

    def cookie_names(self) -> set[str]:
        return {c["name"] for c in self.context.cookies()}


@pytest.fixture
def session(browser, live) -> Iterator[Session]:
    s = Session(browser, live)
    yield s
    s.context.close()


def test_nothing_reaches_a_vendor_before_consent_and_accept_all_loads_the_tags(session):
    page = session.open("/")
    page.get_by_role("region", name="Cookies on Portal").wait_for()
    session.open("/cookies")
    assert session.outside == []
    session.open("/")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Accept all").click()
    page.locator("#consent-banner").wait_for(state="detached")
    page.wait_for_function("() => document.querySelectorAll('script[data-consent-service]').length >= 4")
    page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.includes('gtm.js'))")
    requested = session.vendor_requests()
    assert any("googletagmanager.com/gtag/js?id=G-TEST123" in u for u in requested), requested
    assert any("googletagmanager.com/gtm.js?id=GTM-TEST123" in u for u in requested), requested
    assert any("widget.smartchat.example" in u for u in requested), requested
    # Accepting posts the form and comes back to the same page, whose CSP allows the granted
    # hosts (an in-place insertion would run under the old CSP and have its beacons blocked);
    # Consent Mode's denied default is first in the data layer.
    assert session.consent_posts == ["document"]
    assert page.url == session.base + "/"
    first = page.evaluate("Array.from(window.dataLayer[0])")
    assert first[:2] == ["consent", "default"] and first[2]["analytics_storage"] == "denied"
    assert page.evaluate("Array.from(window.dataLayer[1])")[:2] == ["consent", "update"]
    assert "portal_consent" in session.cookie_names()
    # The next page carries the tags itself, and a CSP that allows the vendors' hosts.
    before = len(session.outside)
    session.open("/cookies")
    assert page.locator("#consent-banner").count() == 0
    assert any("gtag/js" in u for u in session.outside[before:])


def test_reject_all_in_place_loads_nothing_and_keeps_focus_on_the_page(session):
    page = session.open("/")
    page.get_by_role("button", name="Reject all").click()
    page.locator("#consent-banner").wait_for(state="detached")
    assert "saved" in page.locator("#consent-status").inner_text()
    assert session.consent_posts == ["fetch"]
    assert page.evaluate("document.activeElement.id") == "main"
    for path in ("/", "/cookies", "/login"):
        session.open(path)
        assert page.locator("#consent-banner").count() == 0
    assert session.outside == []


def test_withdrawal_expires_ga_cookies_and_stops_the_tags(session, live):
    page = session.open("/")
    page.get_by_role("button", name="Accept all").click()
    page.locator("#consent-banner").wait_for(state="detached")
    session.open("/")
    assert session.vendor_requests()
    # GA itself is intercepted, so plant its cookies as it would have: on the portal's host.
    session.context.add_cookies([
        {"name": "_ga", "value": "GA1.1.1.1", "url": live},
        {"name": "_ga_TEST123", "value": "GS1.1.1", "url": live},
        {"name": "_gid", "value": "GA1.1.2.2", "url": live},
    ])
    session.open("/cookies")
    page.get_by_label("Analytics", exact=True).uncheck()
    page.get_by_label("Chat", exact=True).uncheck()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Save my choice").click()
    assert not {"_ga", "_ga_TEST123", "_gid"} & session.cookie_names()
    before = len(session.outside)
    session.open("/")
    assert session.outside[before:] == []
    assert page.locator("script[data-consent-service]").count() == 0


def test_the_banner_works_by_keyboard_alone(session):
    page = session.open("/")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Reject all":
            break
    else:
        pytest.fail("Tab never reached the Reject all button")
    page.keyboard.press("Enter")
    page.locator("#consent-banner").wait_for(state="detached")
    assert "portal_consent" in session.cookie_names()
    assert page.evaluate("document.activeElement.id") == "main"  # focus did not vanish
    assert session.outside == []


def test_home_page_with_the_banner_open_has_no_serious_accessibility_violation(session):
    from axe_playwright_python.sync_playwright import Axe

    page = session.open("/")
    assert page.locator("#consent-banner").is_visible()
    results = Axe().run(page)
    print({v["id"]: v["impact"] for v in results.response["violations"]})  # the minor ones, for the log
    assert results.response["testEngine"]["name"] == "axe-core"
    serious = [(v["id"], v["impact"]) for v in results.response["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == []
    # The preference form and the cookie tables, too.
    page = session.open("/cookies")
    violations = Axe().run(page).response["violations"]
    assert [(v["id"], v["impact"]) for v in violations if v["impact"] in ("serious", "critical")] == []


def test_the_same_decisions_work_without_javascript(browser, live):
    session = Session(browser, live, javascript=False)
    try:
        page = session.open("/")
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("button", name="Accept all").click()
        assert page.url == live + "/"
        assert session.consent_posts == ["document"]
        assert page.locator("script[data-consent-service=ga4]").count() == 2
        assert page.locator("#consent-banner").count() == 0
        session.open("/cookies")
        assert page.get_by_label("Analytics", exact=True).is_checked()
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("button", name="Reject all").click()
        assert page.locator("script[data-consent-service]").count() == 0
        assert not page.get_by_label("Analytics", exact=True).is_checked()
        # Without a script nothing runs, so nothing was fetched from a vendor either way.
        assert [u for u in session.vendor_requests() if "gtm.js" in u or "gtag/js" in u] == session.vendor_requests()
    finally:
        session.context.close()
