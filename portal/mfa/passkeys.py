"""Passkeys (WebAuthn) with py_webauthn: registration, sign-in, and the account's list.

The relying party is the portal's own origin: its id is the host of BASE_URL, the expected origin
BASE_URL's scheme, host and port. User verification is required (a PIN or biometric on the
device), attestation is "none" (no device make is collected), and passkeys are discoverable, so
one can sign in without typing an address. Each challenge is single-use and bound to the browser
that asked (``portal.mfa.binding``).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, update

from portal.db import affected, utcnow, write_transaction
from portal.extensions import db
from portal.mfa import binding
from portal.mfa.models import Passkey
from portal.translate import gettext as _

MAX_CREDENTIAL_JSON = 20_000
MAX_NAME = 64
TIMEOUT_MS = 120_000


class PasskeyError(ValueError):
    """A passkey that does not check out; the message is safe to show."""


# py_webauthn (with cbor2, pyOpenSSL and its ASN.1 tables) adds ~14 MB to a process: it is
# imported inside the four functions that talk WebAuthn, so a worker that never sees a passkey
# ceremony does not carry it (bench/pages.py measures worker memory).


def bytes_to_base64url(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode("ascii").rstrip("=")


def base64url_to_bytes(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def rp_id() -> str:
    return urlsplit(str(current_app.config["BASE_URL"])).hostname or "localhost"


def origin() -> str:
    parts = urlsplit(str(current_app.config["BASE_URL"]))
    return f"{parts.scheme}://{parts.netloc}"


def of(user_id: int) -> list[Passkey]:
    return list(db.session.scalars(select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)))


def find(user_id: int, passkey_id: int) -> Passkey | None:
    """The passkey ``passkey_id`` if it belongs to ``user_id``; nobody touches another's."""
    found = db.session.get(Passkey, passkey_id)
    return found if found is not None and found.user_id == user_id else None


def clean_name(raw: str | None, fallback: str) -> str:
    name = " ".join((raw or "").split())[:MAX_NAME]
    return name or fallback


def _handle(user_id: int) -> str:
    existing = db.session.scalar(select(Passkey.user_handle).where(Passkey.user_id == user_id).limit(1))
    # Random, not the account id: a passkey tells nothing about which account it is.
    return existing or bytes_to_base64url(secrets.token_bytes(32))


def _parse(credential_json: str | None) -> dict[str, Any]:
    if not credential_json or len(credential_json) > MAX_CREDENTIAL_JSON:
        raise PasskeyError(_("The passkey's answer was missing or too long. Please try again."))
    try:
        value = json.loads(credential_json)
    except ValueError:
        raise PasskeyError(_("The passkey's answer could not be read. Please try again.")) from None
    if not isinstance(value, dict):
        raise PasskeyError(_("The passkey's answer could not be read. Please try again."))
    return value


# --- registration ----------------------------------------------------------------------------------


def registration_options(user_id: int, user_name: str, display_name: str) -> str:
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AttestationConveyancePreference,
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    handle = _handle(user_id)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=str(current_app.config["SITE_NAME"]),
        user_id=base64url_to_bytes(handle),
        user_name=user_name,
        user_display_name=display_name,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
                             for p in of(user_id)],
    )
    binding.issue_challenge("register", bytes_to_base64url(options.challenge), user_id, handle)
    return options_to_json(options)


def register(user_id: int, credential_json: str | None, name: str,
             also: Callable[[Passkey], object] | None = None) -> Passkey:
    """Verify a new passkey against this browser's registration challenge and keep it."""
    from webauthn import verify_registration_response
    from webauthn.helpers.exceptions import WebAuthnException
    from webauthn.helpers.structs import CredentialDeviceType

    challenge = binding.take_challenge("register")
    credential = _parse(credential_json)
    if challenge is None or challenge.user_id != user_id:
        raise PasskeyError(_("This passkey request has expired. Please try again."))
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp_id(),
            expected_origin=origin(),
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise PasskeyError(_("The passkey could not be verified. Please try again.")) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    with write_transaction():
        if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
            raise PasskeyError(_("This passkey is already registered."))
        record = Passkey(
            user_id=user_id,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            user_handle=challenge.user_handle or _handle(user_id),
            name=name,
            sign_count=verified.sign_count,
            backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backed_up=verified.credential_backed_up,
        )
        db.session.add(record)
        db.session.flush()
        if also is not None:
            also(record)
    return record


# --- sign-in and confirmation ----------------------------------------------------------------------


def authentication_options(purpose: str, user_id: int | None = None) -> str:
    """Options for ``navigator.credentials.get``; with no user, any discoverable passkey may answer."""
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

    allowed = [PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
               for p in of(user_id)] if user_id is not None else []
    options = generate_authentication_options(
        rp_id=rp_id(),
        timeout=TIMEOUT_MS,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    binding.issue_challenge(purpose, bytes_to_base64url(options.challenge), user_id)
    return options_to_json(options)


def authenticate(purpose: str, credential_json: str | None, user_id: int | None = None) -> Passkey:
    """The passkey that answered this browser's ``purpose`` challenge; ``user_id`` when it must be
    that account's. Raises PasskeyError for anything else — forged, replayed, expired, unknown."""
    from webauthn import verify_authentication_response
    from webauthn.helpers import parse_authentication_credential_json
    from webauthn.helpers.exceptions import WebAuthnException

    challenge = binding.take_challenge(purpose)
    credential = _parse(credential_json)
    refused = PasskeyError(_("That passkey was not accepted. Please try again, or use another way to sign in."))
    if challenge is None or challenge.user_id != user_id:
        raise PasskeyError(_("This passkey request has expired. Please try again."))
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise refused from None
    record = db.session.scalar(select(Passkey).where(Passkey.credential_id == bytes_to_base64url(parsed.raw_id)))
    if record is None or (user_id is not None and record.user_id != user_id):
        raise refused
    handle = parsed.response.user_handle
    if handle is not None and bytes_to_base64url(handle) != record.user_handle:
        raise refused
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp_id(),
            expected_origin=origin(),
            credential_public_key=record.public_key,
            credential_current_sign_count=record.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise refused from None
    record_id, old_count = record.id, record.sign_count
    with write_transaction():
        # Conditional on the count we checked against: two uses racing count once.
        moved = affected(db.session.execute(
            update(Passkey).where(Passkey.id == record_id, Passkey.sign_count == old_count).values(
                sign_count=verified.new_sign_count, backed_up=verified.credential_backed_up, last_used_at=utcnow())
        ))
    if moved != 1:
        raise refused
    db.session.expire(record)
    return record


# --- the account's list ----------------------------------------------------------------------------


def rename(record: Passkey, name: str) -> None:
    with write_transaction():
        record.name = name


def remove(record: Passkey, also: Callable[[], object] | None = None) -> None:
    with write_transaction():
        db.session.delete(record)
        if also is not None:
            also()
