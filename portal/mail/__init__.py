"""The one place that renders and sends email.

Every message is rendered from ``templates/email/<name>.txt`` and ``.html`` (plain text plus an
HTML alternative) and goes out through Flask-Mail. Without ``MAIL_SERVER`` it is written as an
``.eml`` file to ``instance/outbox/`` instead, so the whole signup flow works on a bare machine.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Connection, Message

log = logging.getLogger("portal.mail")
LINK = re.compile(r"https?://[^\s<>\"']+")


class Sender(Protocol):
    def send(self, message: Message) -> None: ...


def render_message(
    to: str,
    subject: str,
    template: str,
    *,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Message:
    context.setdefault("site_name", current_app.config["SITE_NAME"])
    context.setdefault("base_url", current_app.config["BASE_URL"])
    context.setdefault("subject", subject)
    body = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    message = Message(
        subject=subject,
        recipients=[to],
        body=body,
        html=html,
        extra_headers=dict(headers or {}),
    )
    # A Message-ID on our own domain instead of the machine's host name.
    message.msgId = make_msgid(domain=urlsplit(current_app.config["BASE_URL"]).hostname or "localhost")
    return message


class OutboxSender:
    """Writes messages to ``instance/outbox`` as .eml files; the stand-in for an SMTP server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: Message) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes())
        links = LINK.findall(message.body or "")
        if current_app.config["PRODUCTION"]:
            log.warning("No MAIL_SERVER: message written to %s", path)
        else:
            # Development only: the links are what a newcomer needs to finish signing up.
            log.info(
                "No MAIL_SERVER: message %r to %s written to %s; links: %s",
                message.subject,
                ", ".join(message.recipients),
                path,
                " ".join(links) or "none",
                extra={"portal_unredacted": True},
            )


class SMTPConnection(Connection):
    """Flask-Mail's connection with a socket timeout, so a dead server cannot hang a request."""

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        timeout = current_app.config["MAIL_TIMEOUT"]
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def outbox_folder() -> Path:
    return Path(current_app.instance_path) / "outbox"


@contextmanager
def connection() -> Iterator[Sender]:
    """One SMTP connection (or the outbox) for a batch of messages."""
    if current_app.config.get("MAIL_SERVER"):
        with SMTPConnection(current_app.extensions["mail"]) as conn:
            yield conn
    else:
        yield OutboxSender(outbox_folder())


def send(message: Message) -> None:
    with connection() as conn:
        conn.send(message)


def send_email(
    to: str,
    subject: str,
    template: str,
    *,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Message:
    message = render_message(to, subject, template, headers=headers, **context)
    send(message)
    return message
