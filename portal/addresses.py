"""The email-address rules every area shares: what is accepted, how it is normalised and keyed.

An address is only accepted when the portal can actually deliver to it: an internationalised
domain (x@exämple.org) always can (it goes on the wire as an A-label), a non-ASCII local part
(ü@example.org) only through a relay that speaks SMTPUTF8 (``MAIL_SMTPUTF8``). Refusing it at the
form is the honest answer; accepting it would create an account that can never be confirmed.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from flask_babel import get_locale

from portal.translate import gettext as _

MAX_EMAIL_LENGTH = 254


class AddressError(ValueError):
    """The address cannot be used; the message is safe to show."""


def normalise_email(raw: str) -> str:
    """Validate and normalise an address (no DNS look-ups); raises AddressError with the reason."""
    if not isinstance(raw, str) or not raw.strip():
        raise AddressError(_("Please enter your email address."))
    raw = raw.strip()
    if len(raw) > MAX_EMAIL_LENGTH or "\x00" in raw:
        raise AddressError(_("That does not look like an email address."))
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as error:
        # email-validator explains in English only: elsewhere the sentence stands on its own.
        if str(get_locale() or "en").startswith("en"):
            raise AddressError(f"That does not look like an email address: {error}") from None
        raise AddressError(_("That does not look like an email address.")) from None
    if not result.local_part.isascii() and not _smtputf8():
        raise AddressError(_(
            "We cannot send email to addresses with accented or non-Latin letters before the @ yet. "
            "Please use another address."
        ))
    return str(result.normalized)


def _smtputf8() -> bool:
    return bool(has_app_context() and current_app.config.get("MAIL_SMTPUTF8"))


def email_key(email: str) -> str:
    return email.strip().lower()


def lookup_key(raw: str) -> str:
    """The key a typed address would have, valid or not (login must not reveal validity)."""
    try:
        return email_key(normalise_email(raw))
    except AddressError:
        # Never a valid key, but NUL must not reach the database (PostgreSQL refuses it).
        return email_key(raw or "").replace("\x00", "")[:MAX_EMAIL_LENGTH]
