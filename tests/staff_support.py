"""Helpers for the console tests: staff and ordinary browsers, seeded inquiries, form posts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from portal.db import utcnow
from portal.extensions import db
from tests.accounts_support import login
from tests.factories import make_user
from tests.helpers import PASSWORD, csrf_token
from tests.privacy_support import browser

STAFF = "boss@example.org"


def account(app: Any, email: str, admin: bool = False, password: str = PASSWORD, subscribed: bool = False) -> int:
    with app.test_request_context("/"):
        user_id = make_user(email, password=password, admin=admin, subscribed=subscribed).id
        db.session.remove()
    return user_id


def signed_in(app: Any, email: str, admin: bool = False, create: bool = True) -> Any:
    if create:
        account(app, email, admin=admin)
    client = browser(app)
    assert login(client, email).status_code in (302, 303)
    if admin and create:
        # Staff pages need a second factor (portal.mfa.staff); added after the password sign-in.
        from sqlalchemy import select

        from portal.accounts.models import User
        from tests.mfa_support import give_authenticator

        with app.test_request_context("/"):
            give_authenticator(db.session.scalar(select(User.id).where(User.email_key == email.lower())))
            db.session.remove()
    return client


def staff_client(app: Any, email: str = STAFF) -> Any:
    return signed_in(app, email, admin=True)


def post(client: Any, path: str, data: dict[str, Any] | None = None, token_from: str = "/staff",  # noqa: S107
         **kw: Any) -> Any:
    form = dict(data or {})
    form.setdefault("csrf_token", csrf_token(client, token_from))
    return client.post(path, data=form, **kw)


def seed_inquiry(app: Any, reference: str = "DP-CASE0001", email: str = "person@example.com",
                 created: datetime | None = None, topic: str = "access", user_id: int | None = None,
                 message: str = "What do you keep about me?") -> None:
    from portal.addresses import email_key
    from portal.privacy import inquiries
    from portal.privacy.models import Inquiry

    with app.app_context():
        created = created or utcnow() - timedelta(days=2)
        db.session.add(Inquiry(reference=reference, topic=topic, email=email, email_key=email_key(email),
                               message=message, created_at=created, due_at=inquiries.one_month_later(created),
                               user_id=user_id))
        db.session.commit()
        db.session.remove()


def actions(app: Any) -> list[tuple[str, str, str]]:
    """The staff audit log, oldest first: (action, subject, detail)."""
    from sqlalchemy import select

    from portal.staff.models import StaffAction

    with app.app_context():
        rows = db.session.scalars(select(StaffAction).order_by(StaffAction.id))
        return [(a.action, a.subject, a.detail) for a in rows]
