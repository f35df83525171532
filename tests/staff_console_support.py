"""Helpers for the console tests: a signed-in staff member, and the console's URLs."""

from __future__ import annotations

import re
from typing import Any

from portal.extensions import db
from tests.accounts_support import PASSWORD, login
from tests.factories import make_user
from tests.helpers import csrf_token

STAFF = "boss@example.org"


def account(app: Any, email: str, admin: bool = False) -> int:
    with app.test_request_context("/"):
        user_id = make_user(email, password=PASSWORD, admin=admin).id
        db.session.remove()
    return user_id


def staff_client(app: Any, email: str = STAFF) -> Any:
    user_id = account(app, email, admin=True)
    client = app.test_client()
    assert login(client, email).status_code in (302, 303)
    # Staff pages need a second factor (portal.mfa.staff); added after the password sign-in.
    from tests.mfa_support import give_authenticator

    with app.test_request_context("/"):
        give_authenticator(user_id)
        db.session.remove()
    return client


def sign_in_again(app: Any, client: Any, like: Any, email: str = STAFF) -> None:
    """Another tab of the browser ``like`` signs the staff member in: password, then a code from
    the authenticator app (the same device cookie, so no new-browser notice is mailed)."""
    import time

    from sqlalchemy import select

    from portal.accounts.models import User
    from portal.mfa import keyring, totp

    device = like.get_cookie("portal_device")
    if device is not None:
        client.set_cookie("portal_device", device.value)
    assert login(client, email).status_code == 303
    with app.test_request_context("/"):
        user_id = db.session.scalar(select(User.id).where(User.email_key == email.lower()))
        secret = keyring.decrypt(totp.of(user_id).secret_encrypted)  # type: ignore[union-attr]
        db.session.remove()
    code = totp.code_at(secret, time.time())
    done = client.post("/login/verify", data={"csrf_token": csrf_token(client, "/login/verify"), "code": code})
    assert done.status_code == 303


def post(client: Any, path: str, data: dict[str, Any] | None = None, page: str = "/staff/newsletter/new") -> Any:
    """A console POST with the CSRF token of a console page (the token is per session)."""
    fields = dict(data or {})
    # The send-now and schedule forms share a page, so their fields (the token too) are prefixed.
    prefix = {"send": "now-", "schedule": "at-"}.get(path.rsplit("/", 1)[-1], "")
    fields.setdefault(f"{prefix}csrf_token", csrf_token(client, page))
    return client.post(path, data=fields)


def issue_id_from(response: Any) -> int:
    match = re.search(r"/staff/newsletter/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


def console_urls(app: Any, prefixes: tuple[str, ...] = ("/staff/newsletter", "/staff/mail")) -> list[tuple[str, str]]:
    """(method, path) of every console route under ``prefixes``, with issue 1 filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefixes):
            continue
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found
