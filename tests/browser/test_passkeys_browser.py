"""Passkeys in real Chromium with a CDP virtual authenticator (ctap2, internal, resident keys,
user verification): register, sign out, sign in with no password; a second passkey; removal; a
replayed assertion refused; and the pages axe-core clean, without CSP violations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.ui_support import EMAIL, build_app, keep_local, seed_account, serve, sign_in

pytestmark = pytest.mark.browser
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, smtp_server: Any) -> Iterator[tuple[Any, str]]:
    app = build_app(Path(tmp_path_factory.mktemp("passkeys")), MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                    MAIL_TIMEOUT=5)
    seed_account(app)
    with serve(app) as served:
        # A WebAuthn relying-party id must be a domain name, never an IP address: "localhost" is
        # one, and a secure context over plain http.
        base = served.replace("127.0.0.1", "localhost")
        app.config["BASE_URL"] = base
        yield app, base


class Browser:
    """A page with a virtual authenticator attached (Chromium's DevTools WebAuthn domain)."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context()
        self.context.set_default_timeout(TIMEOUT_MS)
        keep_local(self.context)
        self.page = self.context.new_page()
        self.csp: list[str] = []
        self.page.on("console", lambda m: self.csp.append(m.text) if "Content Security Policy" in m.text else None)
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable")
        self.authenticator = self.add_authenticator()

    def add_authenticator(self) -> str:
        answer = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
        }})
        return str(answer["authenticatorId"])

    def swap_authenticator(self) -> None:
        """Another device: the old authenticator (and its passkeys) goes, a new one comes."""
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.authenticator})
        self.authenticator = self.add_authenticator()

    def credentials(self) -> list[Any]:
        return list(self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})["credentials"])

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def person(browser: Any) -> Iterator[Browser]:
    opened = Browser(browser)
    yield opened
    opened.close()


def _add_passkey(page: Any, base: str, name: str) -> str:
    page.goto(base + "/account/passkeys/new")
    page.fill("#name", name)
    with page.expect_navigation():
        page.get_by_role("button", name="Create the passkey").click()
    return str(page.content())


def _sign_out(page: Any, base: str) -> None:
    page.goto(base + "/account")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()


def _recovery_code(app: Any) -> str:
    """A fresh recovery code for the seeded account (as if the person had kept one)."""
    from sqlalchemy import select

    from portal.accounts.models import User
    from portal.extensions import db
    from portal.mfa import recovery

    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email_key == EMAIL))
        code = recovery.generate(user_id)[0]
        db.session.remove()
    return code


def _sign_in_with_recovery_code(page: Any, app: Any, base: str) -> None:
    sign_in(page, base)
    if page.url.endswith("/login/verify"):
        page.fill("#code", _recovery_code(app))
        with page.expect_navigation(url=f"{base}/account"):
            page.get_by_role("button", name="Continue").click()


def _passkey_sign_in(page: Any, base: str, button: bool = False) -> None:
    """Sign in with no password. The virtual authenticator answers the address field's
    conditional request on its own (as a person picking the passkey from autofill would);
    ``button`` stops that first (an empty field's autofill is never shown) and uses the button."""
    if button:
        page.add_init_script("window.PublicKeyCredential.isConditionalMediationAvailable = "
                             "function () { return Promise.resolve(false); };")
    page.goto(base + "/login")
    if button:
        with page.expect_navigation(url=f"{base}/account"):
            page.get_by_role("button", name="Sign in with a passkey").click()
    else:
        page.wait_for_url(f"{base}/account")


def test_register_sign_out_and_sign_in_with_the_passkey_alone(site, person):
    _, base = site
    page = person.page
    sign_in(page, base)
    first = _add_passkey(page, base, "Laptop")
    assert "Your recovery codes" in first and first.count("<li><code>") == 10
    [credential] = person.credentials()
    assert credential["isResidentCredential"] is True
    _sign_out(page, base)
    assert page.url.rstrip("/") == base

    # No password typed: the passkey alone signs in, from the address field's autofill…
    _passkey_sign_in(page, base)
    assert "Laptop" in page.goto(base + "/account/security").text()
    _sign_out(page, base)
    # …or with the button.
    _passkey_sign_in(page, base, button=True)
    assert person.credentials()[0]["signCount"] >= 1
    assert person.csp == []


def test_a_second_passkey_and_removal_of_the_first(site, person):
    app, base = site
    page = person.page
    # The account has the "Laptop" passkey of a device no longer here: the password now needs a
    # second step, and a recovery code gives it.
    sign_in(page, base)
    assert page.url.endswith("/login/verify")
    page.fill("#code", _recovery_code(app))
    with page.expect_navigation(url=f"{base}/account"):
        page.get_by_role("button", name="Continue").click()

    page_text = _add_passkey(page, base, "Phone")
    assert "Phone" in page_text and "Laptop" in page_text  # back on the security page: both listed
    with page.expect_navigation():
        page.get_by_role("button", name="Remove “Laptop”").click()
    text = page.locator("main").inner_text()
    assert "Laptop" in text and "removed" in text
    assert page.get_by_role("button", name="Remove “Phone”").count() == 1
    assert page.get_by_role("button", name="Remove “Laptop”").count() == 0
    _sign_out(page, base)
    _passkey_sign_in(page, base)  # the phone's passkey works
    assert person.csp == []


def test_a_replayed_assertion_is_refused(site, person):
    app, base = site
    page = person.page
    person.swap_authenticator()
    _sign_in_with_recovery_code(page, app, base)
    _add_passkey(page, base, "Tablet")
    _sign_out(page, base)

    sent: list[str] = []

    def remember(route: Any) -> None:
        if route.request.method == "POST":
            sent.append(route.request.post_data or "")
        route.continue_()

    page.route("**/login/passkey", remember)
    _passkey_sign_in(page, base, button=True)  # and no autofill sign-in on the next visit of /login
    assert sent, "the passkey answer was not posted"
    _sign_out(page, base)
    page.goto(base + "/login")
    token = page.input_value("form[data-passkey-login] input[name=csrf_token]")
    from urllib.parse import parse_qs

    credential = parse_qs(sent[-1])["credential"][0]
    replay = page.request.post(base + "/login/passkey", form={"csrf_token": token, "credential": credential})
    assert replay.status == 400
    assert page.goto(base + "/account").url.startswith(base + "/login")


def _axe(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    return [f"{page.url}: {v['id']}" for v in Axe().run(page).response["violations"]]


def test_the_pages_are_axe_clean_and_say_when_javascript_is_off(site, person, browser):
    app, base = site
    page = person.page
    page.goto(base + "/login")
    assert page.get_attribute("#email", "autocomplete") == "username webauthn"
    page.add_init_script("window.PublicKeyCredential.isConditionalMediationAvailable = "
                         "function () { return Promise.resolve(false); };")
    page.goto(base + "/login")
    assert page.get_by_role("button", name="Sign in with a passkey").is_visible()
    problems = _axe(page)
    sign_in(page, base)
    assert page.url.endswith("/login/verify")
    problems += _axe(page)
    page.fill("#code", _recovery_code(app))
    with page.expect_navigation(url=f"{base}/account"):
        page.get_by_role("button", name="Continue").click()
    for path in ("/account/security", "/account/passkeys/new", "/account/authenticator", "/account/confirm"):
        page.goto(base + path)
        problems += _axe(page)
    assert problems == []
    assert person.csp == []

    quiet = browser.new_context(java_script_enabled=False)
    keep_local(quiet)
    page = quiet.new_page()
    page.goto(base + "/login")
    assert not page.get_by_role("button", name="Sign in with a passkey").is_visible()
    assert "needs JavaScript" in page.locator("main").inner_text()
    quiet.close()
