"""One way for every test module to make an account: a real row, written without HTTP.

Inside an app context (the caller's transaction); ``commit=False`` leaves it flushed only, for
tests that set up several rows at once.
"""

from __future__ import annotations

from datetime import timedelta

from portal.accounts.models import User
from portal.addresses import email_key, normalise_email
from portal.db import utcnow
from portal.extensions import db
from portal.security.passwords import hash_password

# Tests that never log in skip bcrypt: a placeholder that no password matches.
NO_PASSWORD = "!unusable"


def make_user(email: str, *, password: str | None = None, confirmed: bool = True, subscribed: bool = False,
              admin: bool = False, created_days_ago: int = 0, commit: bool = True) -> User:
    now = utcnow()
    address = normalise_email(email)
    user = User(
        email=address,
        email_key=email_key(address),
        password_hash=hash_password(password) if password is not None else NO_PASSWORD,
        created_at=now - timedelta(days=created_days_ago),
        confirmed_at=now if confirmed else None,
        is_admin=admin,
    )
    db.session.add(user)
    db.session.flush()
    if subscribed:
        from portal.newsletter.subscriptions import set_subscription

        set_subscription(user, True, "admin")
    if commit:
        db.session.commit()
    return user
