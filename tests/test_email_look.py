"""Every email has the same look: the site's name on top, ONE footer, and its main action as a
button (a table-based link) in HTML while the plain-text part keeps the bare link."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from portal.mail import outbox
from tests.helpers import html_part, text_part

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"
URL = "https://portal.example/action?token=a&b=1"
# Each message and the context variable that holds its main action (None: nothing to act on).
ACTIONS: dict[str, str | None] = {
    "account_deleted": None,
    "confirm": "confirm_url",
    "email_change": "confirm_url",
    "email_changed": "contact_url",
    "email_taken": None,
    "inquiry_ack": None,
    "inquiry_received": "admin_url",
    "newsletter": None,
    "password_changed": "reset_url",
    "reset": "reset_url",
    "signup_exists": "login_url",
    "mfa_factor_changed": "reset_url",
    "mfa_recovery": "reset_url",
    "mfa_new_browser": "sessions_url",
    "privacy_reply": "contact_url",
    "privacy_extension": "contact_url",
}


class Parts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.footers = 0
        self.headers = 0
        self.buttons: list[str] = []
        self.button_tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        self.footers += "email-footer" in classes
        self.headers += "email-header" in classes
        self.button_tables += tag == "table" and "email-button" in classes
        if tag == "a" and "email-button-link" in classes:
            self.buttons.append(found.get("href") or "")


def context() -> dict[str, Any]:
    inquiry = SimpleNamespace(topic_label="Access", reference="DP-2026-0001", email="a@example.com",
                              created_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC), message="Hello")
    urls = {name: f"{URL}&for={name}" for name in
            ("confirm_url", "contact_url", "admin_url", "reset_url", "login_url", "signup_url",
             "unsubscribe_url", "preferences_url", "security_url", "sessions_url")}
    return {**urls, "hours": 48, "minutes": 60, "new_email": "new@example.com", "inquiry": inquiry,
            "due": "2026-02-02", "body_html": "<p>News</p>", "body_text": "News",
            "body": "Dear Dora,\n\nhere is our answer.", "reason": "We need the archive.",
            "event": "passkey-added", "name": "Laptop", "left": 9, "browser": "Firefox on Linux", "ip": "198.51.100.1"}


def test_every_email_template_is_listed() -> None:
    assert {p.stem for p in TEMPLATES.glob("*.html")} - {"base", "_button"} == set(ACTIONS)
    assert {p.stem for p in TEMPLATES.glob("*.txt")} - {"base"} == set(ACTIONS)


@pytest.mark.parametrize("template", sorted(ACTIONS))
def test_one_header_one_footer_and_the_action_is_the_button(app: Any, template: str) -> None:
    values = context()
    with app.test_request_context("/"):
        composed = outbox.render("dora@example.com", "A subject", template, **values)
    from email import message_from_bytes, policy

    message = message_from_bytes(composed.raw, policy=policy.default)
    html, text = html_part(message), text_part(message)
    parts = Parts()
    parts.feed(html)
    assert (parts.headers, parts.footers) == (1, 1)
    action = ACTIONS[template]
    if action is None:
        assert parts.buttons == []
    else:
        escaped = values[action].replace("&", "&amp;")
        assert parts.buttons == [values[action]] and parts.button_tables == 1
        assert f'href="{escaped}"' in html
        # Plain text: the bare link, readable without any markup.
        assert values[action] in text
    assert "<" not in text.replace("<mailto", "")
    assert app.config["SITE_NAME"] in text.splitlines()[0]
    assert text.replace("\r\n", "\n").count("\n-- \n") == 1  # one signature separator, so one footer in text too
