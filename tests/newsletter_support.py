"""Helpers for the newsletter tests: subscribers made straight in the database, and message checks."""

from __future__ import annotations

import os
import sys
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from portal.accounts.models import User
from portal.db import utcnow
from portal.extensions import db
from portal.newsletter import issues
from portal.newsletter.subscriptions import set_subscription
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
BODY = "# Hello\n\nThis month: **news**. [Read more](https://example.org/more).\n"


def make_user(email: str, confirmed: bool = True, subscribed: bool = True) -> User:
    """A subscriber by default (tests.factories.make_user)."""
    return factories.make_user(email, confirmed=confirmed, subscribed=subscribed)


def make_subscribers(count: int, prefix: str = "reader") -> list[str]:
    emails = [f"{prefix}{i:04d}@example.com" for i in range(count)]
    for email in emails:
        user = User(email=email, email_key=email, password_hash="unused", confirmed_at=utcnow())
        db.session.add(user)
        db.session.flush()
        set_subscription(user, True, "admin")
    db.session.commit()
    return emails


def make_issue(subject: str = "Monthly news", body: str = BODY) -> int:
    return issues.create_issue(subject, body).id


def copies_by_recipient(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(str(m["To"]).lower() for m in messages)


def subprocess_env(app: Any, smtp_port: int) -> dict[str, str]:
    """The environment for a real `flask --app wsgi` child: the fixtures strip PORTAL_* from
    os.environ, so the child's settings are spelled out here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        {
            "PORTAL_DATABASE_URL": str(app.config["SQLALCHEMY_DATABASE_URI"]),
            "PORTAL_INSTANCE_PATH": str(app.instance_path),
            "PORTAL_MAIL_SERVER": "127.0.0.1",
            "PORTAL_MAIL_PORT": str(smtp_port),
            "PORTAL_MAIL_TIMEOUT": "5",
            "PORTAL_SECRET_KEY": str(app.config["SECRET_KEY"]),
            "PORTAL_BASE_URL": str(app.config["BASE_URL"]),
            "PORTAL_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]
