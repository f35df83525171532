"""The newsletter console in a real Chromium: axe-clean pages with no CSP violation, a preview
that shows the email's own styles and follows the typing, and a keyboard-only journey from a
new issue to its progress view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.ui_support import PASSWORD, build_app, keep_local, serve, sign_in

TIMEOUT_MS = 15_000
STAFF = "olga@example.com"
CSP_PROBE = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
                          e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""
PAGES = ("/staff/newsletter", "/staff/newsletter/new", "/staff/newsletter/1", "/staff/newsletter/1/progress",
         "/staff/newsletter/statistics", "/staff/mail")


CODES: list[str] = []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, smtp_server: Any) -> Iterator[tuple[Any, str]]:
    from portal.extensions import db
    from portal.newsletter import issues
    from tests.factories import make_user

    app = build_app(Path(tmp_path_factory.mktemp("console")), MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                    MAIL_TIMEOUT=5)
    with app.test_request_context("/"):
        staff = make_user(STAFF, password=PASSWORD, admin=True)
        # Staff pages need a second factor (portal.mfa.staff): an authenticator app, and a
        # recovery code for each sign-in below (each works once).
        from portal.mfa import recovery
        from tests.mfa_support import give_authenticator

        give_authenticator(staff.id)
        CODES[:] = recovery.generate(staff.id)
        make_user("reader@example.com", subscribed=True)
        issue = issues.create_issue("Spring news", "# Spring\n\nThe **garden** opens.")
        issues.start_issue(issue.id)
        db.session.remove()
    with serve(app) as base:
        yield app, base


def _page(browser: Any, base: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    keep_local(context)
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    sign_in(page, base, STAFF)
    if page.url.endswith("/login/verify"):
        page.fill("#code", CODES.pop())
        with page.expect_navigation():
            page.get_by_role("button", name="Continue").click()
    return context, page


def test_console_pages_are_accessible_and_keep_to_the_policy(browser, site):
    from axe_playwright_python.sync_playwright import Axe

    _app, base = site
    context, page = _page(browser, base)
    problems: list[str] = []
    try:
        for path in PAGES:
            page.goto(base + path)
            violations = Axe().run(page).response["violations"]
            problems += [f"{path}: axe {v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in violations]
            width = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
            if width[0] > width[1]:
                problems.append(f"{path}: scrolls sideways ({width[0]} > {width[1]})")
            problems += [f"{path}: CSP {v}" for v in page.evaluate("window.__csp")]
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_compose_with_live_preview_then_send(browser, site, smtp_server):
    _app, base = site
    context, page = _page(browser, base)
    try:
        page.goto(base + "/staff/newsletter/new")
        _tab_to(page, "#subject")
        page.keyboard.type("Summer news")
        _tab_to(page, "#body")
        page.keyboard.type("The **pool** is open.")
        frame = page.frame_locator("iframe[data-preview-frame]")
        # The preview follows the typing (the script posts the draft; no button pressed)...
        frame.locator("strong", has_text="pool").wait_for()
        assert frame.locator("h1").inner_text() == "Summer news"
        # ...in the email's own look: its inline styles apply inside the frame.
        background = frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
        assert background == "rgb(243, 245, 249)", background  # templates/email/base.html's own body style
        assert page.evaluate("window.__csp") == []
        _tab_to(page, "button[type=submit]:not([formaction])")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("h1").inner_text() == "Summer news"
        # The first issue of this month has gone: the second asks for its reason.
        _tab_to(page, "#now-second_this_month")
        page.keyboard.press("Space")
        _tab_to(page, "#now-reason")
        page.keyboard.type("A summer special")
        _tab_to(page, "form[action$='/send'] button")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "/progress" in page.url
        assert page.locator("[data-field=total]").inner_text() == "1"
    finally:
        context.close()


def test_the_progress_view_updates_in_place_with_javascript(browser, site, smtp_server):
    from portal.mail.worker import deliver_due

    app, base = site
    context, page = _page(browser, base)
    try:
        page.goto(base + "/staff/newsletter/1/progress")
        assert page.locator("[data-field=sent]").inner_text() == "0"
        page.evaluate("window.__loaded = true")  # gone if the page reloads instead of updating
        deliver_due(app)
        page.wait_for_function("() => document.querySelector('[data-field=sent]').textContent === '1'")
        assert page.evaluate("window.__loaded") is True
    finally:
        context.close()
