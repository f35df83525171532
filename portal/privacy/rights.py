"""The person's rights over their data: export (Art. 15/20) and erasure (Art. 17).

Both walk ``portal.personal_data``'s registry, so an area that stores data about a user only has
to register a handler to be exported and erased; nothing here knows other areas' tables.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import current_app

from portal import mail, personal_data
from portal.accounts import signals, throttle
from portal.appctx import current_app_object
from portal.db import utcnow, write_transaction
from portal.links import external_url
from portal.translate import gettext as _
from portal.translate import lazy_gettext as _l

log = logging.getLogger("portal.privacy")

EXPORT_VERSION = 1


class RightsError(ValueError):
    """A request the person can fix (a wrong password); the message is safe to show."""


def export_document(user: Any) -> dict[str, Any]:
    """Everything stored about ``user``: one section per key, from every registered handler."""
    document: dict[str, Any] = {"version": EXPORT_VERSION, "exported_at": utcnow().isoformat()}
    for handler in personal_data.handlers():
        for section, value in handler.export(user).items():
            if section in document:
                # Two handlers claiming one key would silently lose data: fail loudly instead.
                raise RuntimeError(f"export section {section!r} of {handler.name!r} is already taken")
            document[section] = value
    return document


def export_json(user: Any) -> str:
    return json.dumps(export_document(user), ensure_ascii=False, indent=2, sort_keys=False, default=str)


def export_filename() -> str:
    # SITE_NAME is free text: only safe characters may reach the Content-Disposition header.
    site = re.sub(r"[^A-Za-z0-9._-]+", "_", str(current_app.config["SITE_NAME"])).strip("._") or "portal"
    return f"{site[:40]}-data-{utcnow().strftime('%Y%m%d')}.json"


def check_password(user: Any, password: str, ip: str) -> None:
    # The accounts throttle is the one gate for password checks (429 once it refuses).
    if not isinstance(password, str) or not throttle.password_ok(user, password, ip):
        raise RightsError(_("Your password is not correct."))


def erase_user(user: Any, before_commit: Callable[[], object] | None = None) -> None:
    """Erase ``user`` everywhere in one transaction: every handler in registry order, then commit."""
    with write_transaction():
        # Receivers of the accounts signal run inside this same transaction.
        signals.user_deleting.send(current_app_object(), user=user)
        for handler in personal_data.handlers():
            handler.erase(user)
        if before_commit is not None:
            before_commit()


def erase_account(user: Any, password: str, ip: str) -> str:
    """Check the password, erase, and confirm by email to the old address; returns that address."""
    check_password(user, password, ip)
    return erase_and_confirm(user)


def erase_and_confirm(user: Any, before_commit: Callable[[], object] | None = None) -> str:
    """Erase and confirm by email to the old address (self-service and the staff console, whose
    audit entry goes in ``before_commit``, the erasure's own transaction)."""
    address, language = user.email, user.language

    def farewell() -> None:
        # Queued in the erasure's own transaction; the address goes once the message is delivered.
        mail.enqueue(
            address,
            _l("Your %(site)s account has been deleted", site=current_app.config["SITE_NAME"]),
            "account_deleted",
            kind="account.deleted",
            language=language,
            forget_address=True,
            signup_url=external_url("accounts.signup"),
            contact_url=external_url("privacy.contact"),
        )
        if before_commit is not None:
            before_commit()

    erase_user(user, before_commit=farewell)
    return address
