"""The banner's preferences panel in real Chromium: a compact bar with three equal choices on a
phone, a panel with a switch per category that opens in place (with or without JavaScript), works
by keyboard, is axe-clean, never hides focus, and whose "Save my choice" leaves the page with a
CSP that allows exactly what was granted (zero violations)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.ui_support import VIEWPORTS, build_app, keep_local, serve

pytestmark = pytest.mark.browser
TIMEOUT_MS = 10_000
PHONE = VIEWPORTS["phone"]

# The focused element and whether what the browser hit-tests at its centre is that element.
FOCUS_PROBE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const r = el.getBoundingClientRect();
  const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
  const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
  const hit = document.elementFromPoint(x, y);
  const covered = !hit || !(hit === el || el.contains(hit) || hit.contains(el)
                         || (hit.labels && [...hit.labels].includes(el)));
  return {what: el.outerHTML.slice(0, 80), covered, offscreen: r.bottom <= 0 || r.top >= innerHeight};
}"""
# What Google's tags would do once loaded: beacons to their collection hosts.
STUB_TAG = """
  fetch('https://region1.google-analytics.com/g/collect?v=2', {method: 'POST', mode: 'no-cors'}).catch(() => {});
  new Image().src = 'https://www.google-analytics.com/collect?v=1';
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = build_app(Path(tmp_path_factory.mktemp("panel")))
    with serve(app) as url:
        yield url


def _context(browser: Any, **kwargs: Any) -> Any:
    context = browser.new_context(viewport=PHONE, **kwargs)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _tab_to(page: Any, selector: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_the_closed_bar_is_compact_with_three_equal_choices_in_view(browser, base):
    context = _context(browser)
    keep_local(context)
    page = context.new_page()
    try:
        page.goto(base + "/signup")
        bar = page.locator("#consent-banner").bounding_box()
        assert bar["height"] <= 0.35 * PHONE["height"], bar
        choices = [page.get_by_role("button", name="Accept all", exact=True),
                   page.get_by_role("button", name="Reject all", exact=True),
                   page.locator("#consent-panel > summary")]
        boxes = [c.bounding_box() for c in choices]
        assert all(b["y"] >= 0 and b["y"] + b["height"] <= PHONE["height"] for b in boxes), boxes
        assert len({round(b["y"]) for b in boxes}) == 1  # one row
        assert len({round(b["width"]) for b in boxes}) == 1 and len({round(b["height"]) for b in boxes}) == 1
        styles = [c.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color,"
                             " getComputedStyle(e).fontWeight, getComputedStyle(e).borderTopWidth]")
                  for c in choices]
        assert styles[0] == styles[1] == styles[2]  # equal weight: nothing is nudged
        assert page.locator("#banner-consent-analytics").is_visible() is False  # the panel starts closed
    finally:
        context.close()


def test_the_panel_by_keyboard_axe_clean_focus_never_hidden_and_no_csp_violation_after_saving(browser, base):
    from axe_playwright_python.sync_playwright import Axe

    context = _context(browser)

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
        _tab_to(page, "#consent-panel > summary")
        page.keyboard.press("Enter")
        assert page.locator("#consent-panel").evaluate("d => d.open")
        assert page.locator("#consent-panel > summary").get_attribute("aria-expanded") in (None, "true")
        violations = Axe().run(page).response["violations"]
        assert [(v["id"], v["impact"], v["nodes"][0]["target"]) for v in violations] == []
        # Escape closes it again and keeps focus on its control; Enter reopens.
        page.keyboard.press("Escape")
        assert not page.locator("#consent-panel").evaluate("d => d.open")
        assert page.evaluate("document.activeElement.matches('#consent-panel > summary')")
        page.keyboard.press("Enter")
        # Tab through the panel: every switch and the save button, none of them covered.
        seen = []
        for _ in range(8):
            page.keyboard.press("Tab")
            probe = page.evaluate(FOCUS_PROBE)
            assert probe and not probe["covered"] and not probe["offscreen"], probe
            seen.append(page.evaluate("document.activeElement.id || document.activeElement.value"))
            if seen[-1] == "save":
                break
        assert seen == ["banner-consent-analytics", "banner-consent-service-ga4", "banner-consent-service-gtm",
                        "banner-consent-chat", "save"], seen
        for _ in range(4):
            page.keyboard.press("Shift+Tab")
        page.keyboard.press("Space")  # analytics on: both its services follow; chat stays off
        assert page.locator("#banner-consent-service-ga4").is_checked()
        assert page.locator("#banner-consent-service-gtm").is_checked()
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # but not Tag Manager
        assert not page.locator("#banner-consent-service-gtm").is_checked()
        assert page.locator("#banner-consent-analytics").is_checked()
        _tab_to(page, "button[value=save]")
        with page.expect_navigation(wait_until="load"):
            page.keyboard.press("Enter")
        assert page.url == base + "/privacy"  # back on the same page, with its new CSP
        assert page.locator("#consent-banner").count() == 0
        page.wait_for_function("() => document.querySelectorAll('script[data-consent-service]').length >= 2")
        services = page.eval_on_selector_all("script[data-consent-service]",
                                             "s => [...new Set(s.map(e => e.dataset.consentService))]")
        assert services == ["ga4"], services
        page.wait_for_timeout(300)
        assert page.evaluate("window.__csp") == []
        assert console == []
    finally:
        context.close()


def test_the_panel_works_without_javascript(browser, base):
    context = _context(browser, java_script_enabled=False)
    keep_local(context)
    page = context.new_page()
    try:
        page.goto(base + "/login")
        page.locator("#consent-panel > summary").click()
        page.get_by_label("Chat", exact=True).check()
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("button", name="Save my choice").click()
        assert page.url == base + "/login"
        assert page.locator("#consent-banner").count() == 0
        page.goto(base + "/cookies")
        assert page.get_by_label("Chat", exact=True).is_checked()
        assert not page.get_by_label("Analytics", exact=True).is_checked()
    finally:
        context.close()
