"""Helpers for the privacy tests: accounts made through the real flows, admin flag, inquiries."""

from __future__ import annotations

import itertools
import random
import re
from typing import Any

from sqlalchemy import select

from portal.accounts.models import User
from portal.extensions import db
from tests.helpers import PASSWORD, Auth, SMTPSink, csrf_token

REFERENCE = re.compile(r"DP-[A-Z2-9]{8}")
_ips = itertools.count(random.randrange(1, 200) * 65536)


def fresh_ip() -> str:
    """A client address no other test used in this run.

    Flask-Limiter keeps the key prefix of the first app it was bound to, so on Redis every test
    of a run shares counters; a fresh address per browser keeps one test's signups and logins
    from spending another's rate-limit budget.
    """
    n = next(_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def browser(app: Any, ip: str | None = None) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip or fresh_ip()
    return client


def registered_client(app: Any, smtp: SMTPSink, email: str, ip: str | None = None) -> Any:
    """A browser (own cookie jar, own IP) that signed up, confirmed and logged in as ``email``."""
    client = browser(app, ip)
    response = Auth(client, smtp).register(email, PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def make_admin(app: Any, email: str) -> None:
    """Make an existing account staff (the account came through the real signup)."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email_key == email.lower()))
        assert user is not None
        user.is_admin = True
        db.session.commit()
        # Staff pages need a second factor (portal.mfa.staff); the session already signed in keeps going.
        from tests.mfa_support import give_authenticator

        give_authenticator(user.id)


def send_inquiry(client: Any, email: str, topic: str = "access", message: str = "What do you store about me?") -> Any:
    token = csrf_token(client, "/privacy/contact")
    return client.post(
        "/privacy/contact", data={"csrf_token": token, "email": email, "topic": topic, "message": message}
    )


def user_id(app: Any, email: str) -> int | None:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email_key == email.lower()))
