"""The console's desk, breach, people and report pages in real Chromium, at phone and desktop
size: axe-core clean, no sideways scrolling, focus never hidden; and a keyboard-only lookup of a
person and reply to an inquiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_ui_browser import _context, _tab_through, _tab_to
from tests.browser.ui_support import PASSWORD, VIEWPORTS, build_app, serve, sign_in

pytestmark = pytest.mark.browser
STAFF = "desk@example.org"
PERSON = "ida@example.com"


CODES: list[str] = []


def _staff_sign_in(page: Any, base: str) -> None:
    sign_in(page, base, STAFF)
    if page.url.endswith("/login/verify"):
        page.fill("#code", CODES.pop())
        with page.expect_navigation():
            page.get_by_role("button", name="Continue").click()


def _seed(app: Any) -> None:
    from portal.db import utcnow
    from portal.extensions import db
    from portal.privacy import inquiries
    from portal.privacy.models import Inquiry
    from portal.staff.models import Breach
    from tests.factories import make_user

    with app.test_request_context("/"):
        staff = make_user(STAFF, password=PASSWORD, admin=True)
        # Staff pages need a second factor (portal.mfa.staff): an authenticator app, and a
        # recovery code for each sign-in (each works once).
        from portal.mfa import recovery
        from tests.mfa_support import give_authenticator

        give_authenticator(staff.id)
        CODES[:] = recovery.generate(staff.id)
        person = make_user(PERSON, password=PASSWORD)
        now = utcnow()
        for n, days in enumerate((3, 40)):
            created = now - timedelta(days=days)
            db.session.add(Inquiry(reference=f"DP-BROWSE0{n}", topic="access", email=PERSON, email_key=PERSON,
                                   message="Which data do you keep?\nThank you.", created_at=created,
                                   due_at=inquiries.one_month_later(created), user_id=person.id))
        db.session.add(Breach(recorded_by=STAFF, discovered_at=now - timedelta(hours=5), summary="Lost laptop",
                              description="Encrypted disk."))
        db.session.commit()
        db.session.remove()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, smtp_server: Any) -> Iterator[tuple[Any, str]]:
    app = build_app(Path(tmp_path_factory.mktemp("staff-ui")), MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                    MAIL_TIMEOUT=5, DPO_EMAIL="dpo@example.org")
    _seed(app)
    with serve(app) as base:
        yield app, base


def _look_up(page: Any) -> None:
    page.fill("#email", PERSON)
    page.fill("#reason", "inquiry DP-BROWSE00")
    with page.expect_navigation():
        page.get_by_role("button", name="Look").click()


def _bad_lookup(page: Any) -> None:
    page.fill("#email", "ida")
    with page.expect_navigation():
        page.get_by_role("button", name="Look").click()


PAGES: tuple[tuple[str, str, Any], ...] = (
    ("console", "/staff", None),
    ("desk", "/staff/desk", None),
    ("case", "/staff/desk/DP-BROWSE00", None),
    ("breaches", "/staff/breaches", None),
    ("breach", "/staff/breaches/1", None),
    ("people", "/staff/people", None),
    ("people-errors", "/staff/people", _bad_lookup),
    ("person", "/staff/people", _look_up),
    ("consent", "/staff/consent", None),
    ("health", "/staff/health", None),
    ("audit-log", "/staff/audit-log", None),
)


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_console_pages_are_accessible_fit_and_never_hide_focus(browser, site, size):
    from axe_playwright_python.sync_playwright import Axe

    _app, base = site
    axe = Axe()
    context = _context(browser, viewport=VIEWPORTS[size])
    page = context.new_page()
    problems: list[str] = []
    try:
        _staff_sign_in(page, base)
        for name, path, action in PAGES:
            page.goto(base + path)
            if action:
                action(page)
            violations = axe.run(page).response["violations"]
            problems += [f"{name}: axe {v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in violations]
            width = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
            if width[0] > width[1]:
                problems.append(f"{name}: scrolls sideways ({width[0]} > {width[1]})")
            problems += [f"{name}: {p}" for p in _tab_through(page, limit=80)]
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


def test_keyboard_only_lookup_and_reply(browser, site, smtp_server):
    from portal.mail.worker import deliver_due

    app, base = site
    context = _context(browser, viewport=VIEWPORTS["phone"])
    page = context.new_page()
    try:
        _staff_sign_in(page, base)
        page.goto(base + "/staff")
        _tab_to(page, "a[href='/staff/people']")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _tab_to(page, "#email")
        page.keyboard.type(PERSON)
        _tab_to(page, "#reason")
        page.keyboard.type("keyboard check of the console")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert PERSON in page.locator("h1").inner_text()
        _tab_to(page, "a[href='/staff/desk']")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _tab_to(page, "a[href='/staff/desk/DP-BROWSE01']")  # the overdue one comes first
        with page.expect_navigation():
            page.keyboard.press("Enter")
        _tab_to(page, "#body")
        page.keyboard.type("We keep your address only.")
        _tab_to(page, "#answered")
        page.keyboard.press("Space")
        _tab_to(page, "form[action$='/reply'] button[type=submit]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "kept with the case" in page.locator("main").inner_text()
        assert "Answered" in page.locator("main").inner_text()
        deliver_due(app)
        assert any("We keep your address only." in str(m.get_body(preferencelist=("plain",)).get_content())
                   for m in smtp_server.to(PERSON))
    finally:
        context.close()
