"""Issue 13's acceptance in real Chromium: the whole journey in Czech with `Accept-Language: cs`
(<html lang="cs">, Czech dates, axe-core clean, no English catalogue text left on the pages or in
the mail), and switching back to English without JavaScript, kept in the cookie and on the account."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from tests.browser.ui_support import EMAIL, PASSWORD, build_app, local_context, seed_account, serve

pytestmark = pytest.mark.browser
TIMEOUT_MS = 10_000
ROOT = Path(__file__).resolve().parents[2]
CZECH_DATE = re.compile(r"\b\d{1,2}\. \d{1,2}\. \d{4}\b")


def _english_phrases() -> list[str]:
    """Pieces of every English message (between placeholders and markup) that read as English:
    two words or more, and different in Czech."""
    with (ROOT / "portal/translations/cs/LC_MESSAGES/messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    phrases = set()
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            for piece in re.split(r"%\(\w+\)[sd]|<[^>]+>|[“”\"()]", english):
                piece = " ".join(piece.split()).strip(" .,:;—-")
                if len(piece.split()) >= 2 and len(piece) >= 12 and all(piece not in s for s in strings):
                    phrases.add(piece)
    return sorted(phrases)


ENGLISH = _english_phrases()


def _english_left(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [phrase for phrase in ENGLISH if phrase in flat]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, smtp_server: Any) -> Iterator[tuple[Any, str]]:
    app = build_app(Path(tmp_path_factory.mktemp("i18n")), MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                    MAIL_TIMEOUT=5, DPO_EMAIL="dpo@example.com")
    seed_account(app)
    with serve(app) as base:
        yield app, base


def _context(browser: Any, **kwargs: Any) -> Any:
    return local_context(browser, TIMEOUT_MS, **kwargs)


def _submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


class Journey:
    """Checks each page as it is reached: lang, axe-core, no English catalogue text."""

    def __init__(self, page: Any) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.page = page
        self.axe = Axe()
        self.problems: list[str] = []

    def check(self, name: str) -> str:
        page = self.page
        lang = page.get_attribute("html", "lang")
        if lang != "cs":
            self.problems.append(f"{name}: <html lang={lang!r}>")
        violations = self.axe.run(page).response["violations"]
        self.problems += [f"{name}: axe {v['id']}: {v['nodes'][0]['target']}" for v in violations]
        text = page.locator("body").inner_text()
        self.problems += [f"{name}: English left: {p!r}" for p in _english_left(text)]
        return text

    def mail(self, name: str, message: Any) -> None:
        from tests.helpers import html_part, text_part

        subject = str(message["Subject"])
        self.problems += [f"{name} subject: English left: {p!r}" for p in _english_left(subject)]
        if not re.search(r"[ěščřžýáíéůúďťň]", subject, re.I):
            self.problems.append(f"{name} subject is not Czech: {subject!r}")
        template = ROOT / "templates/email/base.txt"
        if "_(" in template.read_text(encoding="utf-8") or "trans" in template.read_text(encoding="utf-8"):
            body = text_part(message) + " " + re.sub(r"<[^>]+>", " ", html_part(message))
            self.problems += [f"{name} body: English left: {p!r}" for p in _english_left(body)]


def test_the_whole_journey_in_czech(browser, site, smtp_server):
    from portal.mail.worker import deliver_due
    from tests.helpers import links, path_of

    app, base = site
    email = "jana@example.com"
    context = _context(browser, locale="cs-CZ", extra_http_headers={"Accept-Language": "cs"})
    page = context.new_page()
    journey = Journey(page)
    try:
        # Banner -> preferences
        page.goto(base + "/")
        assert "Cookies na webu" in journey.check("home with banner")
        page.click("#consent-banner summary")  # the preferences open in place
        journey.check("banner preferences")
        _submit(page, "#consent-banner button[value=save]")
        journey.check("preferences saved")
        page.goto(base + "/cookies")
        journey.check("cookie settings")

        # Signup -> confirmation email -> login
        page.goto(base + "/signup")
        journey.check("signup")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        _submit(page, "form[action='/signup'] button[type=submit]")
        assert "Zkontrolujte svou schránku" in journey.check("check inbox")
        deliver_due(app)
        confirmation = smtp_server.to(email)[-1]
        journey.mail("confirmation", confirmation)
        page.goto(base + path_of(next(u for u in links(confirmation) if "/confirm/" in u)))
        assert "je potvrzena" in journey.check("confirmed")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        _submit(page, "form[action^='/login'] button[type=submit]")

        # Account pages, with Czech dates
        assert page.url.endswith("/account")
        text = journey.check("account")
        assert CZECH_DATE.search(text), "no Czech date on the account page"
        for path in ("/account/security", "/account/sessions", "/account/email", "/account/data"):
            page.goto(base + path)
            journey.check(path)
        assert CZECH_DATE.search(page.goto(base + "/account/security") and page.locator("main").inner_text())

        # Newsletter
        page.goto(base + "/newsletter")
        journey.check("newsletter")
        page.check("#subscribed")
        _submit(page, "form[action='/newsletter'] button[type=submit]")
        assert "Odebíráte zpravodaj" in journey.check("newsletter saved")
        page.goto(base + "/newsletter/archive")
        journey.check("archive")

        # Export
        page.goto(base + "/account/data")
        with page.expect_download() as download:
            page.click("a[href='/account/export']")
        assert download.value.suggested_filename.endswith(".json")

        # Contact form and its acknowledgement
        page.goto(base + "/privacy")
        assert "Úřadu pro ochranu osobních údajů" in journey.check("privacy policy")
        page.goto(base + "/privacy/contact")
        journey.check("contact")
        page.select_option("#topic", "access")
        page.fill("#message", "Jaké údaje o mně vedete?")
        _submit(page, "form[action='/privacy/contact'] button[type=submit]")
        text = journey.check("inquiry received")
        assert "Váš dotaz jsme přijali" in text and CZECH_DATE.search(text)
        deliver_due(app)
        journey.mail("acknowledgement", next(m for m in smtp_server.to(email) if "dotaz" in str(m["Subject"])))

        # Delete
        page.goto(base + "/account/data")
        page.fill("#delete-password", PASSWORD)
        _submit(page, "form[action='/account/delete'] button[type=submit]")
        assert "byly smazány" in journey.check("deleted")
        deliver_due(app)
        journey.mail("farewell", smtp_server.to(email)[-1])
    finally:
        context.close()
    assert journey.problems == [], "\n".join(journey.problems)


def test_switching_back_to_english_without_javascript_persists(browser, site):
    from portal.accounts.models import User
    from portal.extensions import db

    app, base = site
    context = _context(browser, java_script_enabled=False, extra_http_headers={"Accept-Language": "cs"})
    page = context.new_page()
    try:
        page.goto(base + "/privacy")
        assert page.get_attribute("html", "lang") == "cs"
        _submit(page, "footer button[value=en]")
        assert page.url == base + "/privacy" and page.get_attribute("html", "lang") == "en"
        assert "Privacy policy" in page.locator("h1").inner_text()
        page.goto(base + "/")
        assert page.get_attribute("html", "lang") == "en"  # the cookie, not Accept-Language
        cookie = next(c for c in context.cookies() if c["name"] == "portal_lang")
        assert cookie["value"] == "en" and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        # Signed in, the choice goes onto the account too.
        page.goto(base + "/login")
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        _submit(page, "form[action^='/login'] button[type=submit]")
        _submit(page, "footer button[value=cs]")
        assert page.get_attribute("html", "lang") == "cs"
        _submit(page, "footer button[value=en]")
        with app.app_context():
            assert db.session.query(User).filter_by(email_key=EMAIL).one().language == "en"
            db.session.remove()
    finally:
        context.close()

    # Another browser without the cookie, still asking for Czech: the account's choice wins.
    context = _context(browser, java_script_enabled=False, extra_http_headers={"Accept-Language": "cs"})
    page = context.new_page()
    try:
        page.goto(base + "/login")
        assert page.get_attribute("html", "lang") == "cs"
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        _submit(page, "form[action^='/login'] button[type=submit]")
        assert page.url.endswith("/account") and page.get_attribute("html", "lang") == "en"
    finally:
        context.close()
