"""Issue 12's acceptance in real Chromium: every page and state, at 390x844 and 1280x800, light and
dark: axe-core clean, no sideways scrolling, focus never covered; accepting cookies leaves no CSP
violation; and a keyboard-only journey from signup to sign-out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.ui_support import (
    PAGES,
    PASSWORD,
    VIEWPORTS,
    build_app,
    local_context,
    seed_account,
    serve,
    sign_in,
)

pytestmark = pytest.mark.browser
TIMEOUT_MS = 10_000

# After each Tab: the focused element, where it is, and what the browser hit-tests at its centre.
FOCUS_PROBE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) return {what: el.outerHTML.slice(0, 80), hidden: true};
  const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
  const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
  const hit = document.elementFromPoint(x, y);
  const banner = document.getElementById('consent-banner');
  const covered = !hit || !(hit === el || el.contains(hit) || hit.contains(el)
                         || (hit.labels && [...hit.labels].includes(el)) || (el.control && el.control === hit));
  return {what: el.outerHTML.slice(0, 80), covered,
          underBanner: !!(banner && hit && banner.contains(hit) && !banner.contains(el)),
          offscreen: r.bottom <= 0 || r.top >= innerHeight};
}"""




@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, smtp_server: Any) -> Iterator[tuple[Any, str]]:
    app = build_app(Path(tmp_path_factory.mktemp("ui")), MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                    MAIL_TIMEOUT=5)
    seed_account(app)
    with serve(app) as base:
        yield app, base


def _context(browser: Any, **kwargs: Any) -> Any:
    return local_context(browser, TIMEOUT_MS, **kwargs)


def _tab_through(page: Any, limit: int = 60) -> list[str]:
    problems = []
    seen = set()
    for _ in range(limit):
        page.keyboard.press("Tab")
        probe = page.evaluate(FOCUS_PROBE)
        if probe is None:
            continue
        if probe["what"] in seen:
            break  # wrapped around to the start
        seen.add(probe["what"])
        if probe.get("hidden"):
            continue
        if probe["covered"] or probe["underBanner"] or probe["offscreen"]:
            problems.append(f"focus obscured: {probe}")
    return problems


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_every_page_is_accessible_fits_the_screen_and_never_hides_focus(browser, site, size, scheme):
    from axe_playwright_python.sync_playwright import Axe

    _app, base = site
    axe = Axe()
    context = _context(browser, viewport=VIEWPORTS[size], color_scheme=scheme)
    page = context.new_page()
    problems: list[str] = []
    signed_in = False
    try:
        for name, path, needs_login, action in PAGES:
            if needs_login and not signed_in:
                sign_in(page, base)
                signed_in = True
            page.goto(base + path)
            if action:
                action(page)
            if name == "cookies" or name == "home":
                # The banner and the preferences panel are part of what is checked.
                assert page.locator("#consent-banner").count() == (1 if name == "home" else 0)
            violations = axe.run(page).response["violations"]
            problems += [f"{name}: axe {v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in violations]
            width = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
            if width[0] > width[1]:
                problems.append(f"{name}: scrolls sideways ({width[0]} > {width[1]})")
            if size == "phone" and name == "home":
                height = page.locator("#consent-banner").bounding_box()["height"]
                if height > 0.35 * VIEWPORTS[size]["height"]:
                    problems.append(f"banner is {height:.0f}px high")
            if scheme == "light":  # the layout is the same in dark: tab through once per size
                problems += [f"{name}: {p}" for p in _tab_through(page)]
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


def test_the_signup_errors_are_all_shown_in_a_summary_that_takes_focus(browser, site):
    _app, base = site
    context = _context(browser, viewport=VIEWPORTS["phone"])
    page = context.new_page()
    try:
        page.goto(base + "/signup")
        page.fill("#email", "not-an-address")
        page.fill("#password", "short")
        with page.expect_navigation():
            page.get_by_role("button", name="Create account").click()
        assert page.title().startswith("Error: ")
        assert page.evaluate("document.activeElement.matches('[data-error-summary]')")
        assert page.locator(".error-summary a").count() == 2
        assert page.get_attribute("#email", "aria-invalid") == "true"
        assert "password-error" in page.get_attribute("#password", "aria-describedby")
        page.locator(".error-summary a[href='#password']").click()
        assert page.evaluate("document.activeElement.id") == "password"
        assert page.locator(".show-password").count() == 1  # one control, inside the field
        assert page.locator("[id=csrf_token]").count() == 0
    finally:
        context.close()


STUB_TAG = """
  fetch('https://region1.google-analytics.com/g/collect?v=2', {method: 'POST', mode: 'no-cors'}).catch(() => {});
  new Image().src = 'https://www.google-analytics.com/collect?v=1';
  const frame = document.createElement('iframe'); frame.src = 'https://widget.smartchat.example/frame';
  frame.title = 'chat'; document.body.appendChild(frame);
  try { new WebSocket('wss://widget.smartchat.example/socket'); } catch (e) {}
"""


def test_accepting_in_the_banner_leaves_no_csp_violation(browser, site):
    """What the vendors' tags really do (beacons, a chat frame, a socket) is allowed right away."""
    _app, base = site
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)

    def route(route: Any) -> None:
        host = re.sub(r"^https?://([^/:]+).*", r"\1", route.request.url)
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        elif route.request.resource_type == "script":
            route.fulfill(status=200, content_type="application/javascript", body=STUB_TAG)
        else:
            route.fulfill(status=204, body="")

    context.route("**/*", route)
    context.add_init_script("""window.__csp = [];
        document.addEventListener('securitypolicyviolation',
                                  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));""")
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(base + "/privacy")
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("button", name="Accept all").click()
        assert page.url == base + "/privacy"  # back on the same page, with its new CSP
        page.wait_for_function("() => document.querySelectorAll('iframe[title=chat]').length >= 1")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__csp") == []
        assert console == []
        assert page.locator("[data-consent-service]").count() >= 4  # the landing view counts
    finally:
        context.close()


def _tab_to(page: Any, selector: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_signup_confirm_login_newsletter_logout(browser, site, smtp_server):
    from portal.mail.worker import deliver_due
    from tests.helpers import links, path_of

    app, base = site
    email = "kim@example.com"
    context = _context(browser, viewport=VIEWPORTS["phone"])
    page = context.new_page()
    try:
        page.goto(base + "/")
        _tab_to(page, "button[value=reject_all]")
        page.keyboard.press("Enter")
        page.locator("#consent-banner").wait_for(state="detached")
        _tab_to(page, "a[href='/signup']")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _tab_to(page, "#email")
        page.keyboard.type(email)
        _tab_to(page, "#password")
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/check-inbox/signup")
        deliver_due(app)
        message = smtp_server.to(email)[-1]
        confirm = next(u for u in links(message) if "/confirm/" in u)
        page.goto(base + path_of(confirm))  # the link in the email
        assert page.url.endswith("/login")
        _tab_to(page, "#email")
        page.keyboard.type(email)
        _tab_to(page, "#password")
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/account")
        _tab_to(page, "a[href='/account/email']")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _tab_to(page, "a[href='/newsletter']")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _tab_to(page, "#subscribed")
        page.keyboard.press("Space")
        _tab_to(page, "button[type=submit]:not(.link)")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "You are subscribed" in page.locator("main").inner_text()
        _tab_to(page, "header button.link")  # Tab wraps round to the header
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "You are signed out" in page.locator("main").inner_text()
        assert page.get_by_role("link", name="Sign in").count() >= 1
    finally:
        context.close()
