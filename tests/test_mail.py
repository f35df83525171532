"""The mail module: text + HTML over real SMTP, and the outbox fallback on a bare machine."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from pathlib import Path

from portal import mail
from portal.extensions import db
from portal.mail.worker import deliver_due
from tests.helpers import html_part, text_part


def _queue(app, to="bob@example.com", subject="Hello", template="password_changed", **context):  # type: ignore[no-untyped-def]
    with app.app_context():
        mail.enqueue(to, subject, template, kind="account.password-changed", **context)
        db.session.commit()
    return deliver_due(app)


def test_message_goes_over_smtp_as_text_and_html(app, smtp):
    outcome = _queue(app, reset_url="https://x.example/reset")
    assert outcome.sent == 1
    (message,) = smtp.messages
    assert message["Subject"] == "Hello" and message["To"] == "bob@example.com"
    assert message.is_multipart()
    assert "https://x.example/reset" in text_part(message)
    assert 'href="https://x.example/reset"' in html_part(message)
    assert message["Message-ID"].endswith("@127.0.0.1>")
    assert message["Auto-Submitted"] == "auto-generated"


def test_without_mail_server_messages_go_to_outbox_and_links_are_logged(make_app, smtp, caplog):
    app = make_app(MAIL_SERVER=None)
    caplog.set_level(logging.INFO, logger="portal.mail")
    _queue(app, subject="Hi", template="confirm", confirm_url="https://x.example/confirm/abc.def", hours=48)
    files = list((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(files) == 1 and smtp.messages == []
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"] == "bob@example.com"
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    assert "https://x.example/confirm/abc.def" in caplog.text


def test_production_outbox_does_not_log_links(make_app, caplog):
    app = make_app(MAIL_SERVER=None, ENV="production", BASE_URL="https://p.example")
    caplog.set_level(logging.INFO, logger="portal.mail")
    _queue(app, subject="Hi", template="confirm", confirm_url="https://p.example/confirm/abc.def", hours=48)
    assert "abc.def" not in caplog.text and "outbox" in caplog.text
