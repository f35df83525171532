"""A demonstration portal for the UI checks and the screenshots: every vendor configured, an
account with several sessions on several devices, served from a thread on a loopback port.

Used by tests/browser/test_ui_browser.py and tools/screenshots.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import make_server

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
PASSWORD = "correct horse battery staple 42"
EMAIL = "dora@example.com"
SECRET = "ui-secret-key-that-is-long-enough-for-production-0123456789"
VENDORS: dict[str, Any] = {
    "GA_MEASUREMENT_ID": "G-TEST123",
    "GTM_CONTAINER_ID": "GTM-TEST123",
    "SMARTCHAT_KEY": "test-key",
    "SMARTCHAT_SCRIPT_URL": "https://widget.smartchat.example/loader.js",
}
DEVICES = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", "198.51.100.7"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "2001:db8:85a3::8a2e:370:7334"),
)
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
SCHEMES = ("light", "dark")


def build_app(folder: Path, **overrides: Any) -> Any:
    from portal import create_app
    from portal.extensions import db

    settings: dict[str, Any] = {
        "TESTING": True,
        "INSTANCE_PATH": str(folder / "instance"),
        "SECRET_KEY": SECRET,
        "BCRYPT_ROUNDS": 4,
        "DATABASE_URL": f"sqlite:///{folder / 'ui.sqlite3'}",
        "MAIL_WORKER_THREADS": 0,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "SIGNUP_RATE_LIMIT": "1000 per minute",
        "RESET_RATE_LIMIT": "1000 per minute",
        **VENDORS,
    }
    settings.update(overrides)
    app = create_app(settings)
    with app.app_context():
        db.create_all()

    @app.get("/_ui/429")
    def too_many() -> Any:
        # The page the rate limiter shows (portal.ratelimit renders this template with 429).
        from flask import render_template

        from portal.accounts import LIMITS

        return render_template("errors/rate_limited.html", message=LIMITS["accounts.login"][1],
                               retry_after=90, endpoint="accounts.login"), 429

    return app


def seed_account(app: Any, email: str = EMAIL) -> None:
    """A confirmed account, signed in (and once mistyped) from two other devices."""
    from portal.accounts import service
    from portal.accounts.models import User
    from portal.db import utcnow
    from portal.extensions import db

    with app.test_request_context("/"):
        normal = service.normalise_email(email)
        db.session.add(User(email=normal, email_key=service.email_key(normal),
                            password_hash=service.hash_password(PASSWORD), confirmed_at=utcnow()))
        db.session.commit()
        db.session.remove()
    for agent, ip in DEVICES:
        client = app.test_client()
        client.environ_base.update({"REMOTE_ADDR": ip, "HTTP_USER_AGENT": agent})
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"csrf_token": token, "email": email, "password": "not the password"})
        client.post("/login", data={"csrf_token": token, "email": email, "password": PASSWORD})


@contextmanager
def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def keep_local(context: Any) -> None:
    """Answer every request to another host locally: nothing leaves the machine."""

    def route(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        elif route.request.resource_type == "script":
            route.fulfill(status=200, content_type="application/javascript", body="/* intercepted */")
        else:
            route.fulfill(status=204, body="")

    context.route("**/*", route)


def local_context(browser: Any, timeout_ms: int = 10_000, **kwargs: Any) -> Any:
    """A browser context whose every request to another host is answered locally."""
    context = browser.new_context(**kwargs)
    context.set_default_timeout(timeout_ms)
    keep_local(context)
    return context


def sign_in(page: Any, base: str, email: str = EMAIL, password: str = PASSWORD) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()


# Every page and state the issue names: (name, path, needs a sign-in, what to do once there).
def submit_bad_signup(page: Any) -> None:
    page.fill("#email", "not-an-address")
    page.fill("#password", "short")
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").click()


def open_preferences(page: Any) -> None:
    page.locator("#consent-panel > summary").click()
    page.locator("#consent-panel[open]").wait_for()


PAGES: tuple[tuple[str, str, bool, Any], ...] = (
    ("home", "/", False, None),
    ("preferences", "/signup", False, open_preferences),  # the banner's panel, open
    ("login", "/login", False, None),
    ("signup-errors", "/signup", False, submit_bad_signup),
    ("privacy", "/privacy", False, None),
    ("cookies", "/cookies", False, None),
    ("not-found", "/no-such-page", False, None),
    ("too-many", "/_ui/429", False, None),
    ("account", "/account", True, None),
    ("account-security", "/account/security", True, None),
    ("account-sessions", "/account/sessions", True, None),
    ("account-email", "/account/email", True, None),
    ("account-data", "/account/data", True, None),
    ("account-confirm", "/account/confirm", True, None),
    ("passkey-new", "/account/passkeys/new", True, None),
    ("authenticator", "/account/authenticator", True, None),
)
