"""Authenticator-app codes (TOTP, RFC 6238): 6 digits, 30-second steps, one step either side.

Every function that reads the clock takes ``now`` (Unix seconds), so tests run on a fixed clock.
A code is accepted only for a step after the last one accepted, and the step is written with a
conditional UPDATE: the same code twice — one after the other or at the same instant — counts once.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable

import pyotp
from flask import current_app
from sqlalchemy import select, update

from portal.db import affected, utcnow, write_transaction
from portal.extensions import db
from portal.mfa import keyring
from portal.mfa.models import Authenticator

STEP = 30
DIGITS = 6
TOLERANCE = 1  # steps either side: a phone clock off by up to 30 s still works
CODE = re.compile(r"\A[0-9]{6}\Z")


def normalise(code: str | None) -> str:
    """The code as typed, without the spaces and dashes apps show inside it."""
    return re.sub(r"[\s-]", "", code or "")[:64]


def looks_like_code(code: str | None) -> bool:
    return bool(CODE.match(normalise(code)))


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def matching_step(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The step ``code`` belongs to, within the tolerance and after ``last_step``; None otherwise."""
    code = normalise(code)
    if not CODE.match(code):
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    current = int(_now(now) // STEP)
    for step in range(current - TOLERANCE, current + TOLERANCE + 1):
        # Compare all three, whatever matches: the time taken tells nothing.
        if step > last_step and hmac.compare_digest(otp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, now: float) -> str:
    """The code an app shows at ``now`` (tests and the enrolment page's self-check use it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).at(int(now))


def of(user_id: int) -> Authenticator | None:
    return db.session.scalar(select(Authenticator).where(Authenticator.user_id == user_id))


def active(user_id: int) -> Authenticator | None:
    found = of(user_id)
    return found if found is not None and found.confirmed_at is not None else None


def start_enrolment(user_id: int) -> tuple[Authenticator, str]:
    """The unconfirmed authenticator and its secret: a new one, or the one a reload shows again."""
    existing = of(user_id)
    if existing is not None and existing.confirmed_at is None:
        return existing, keyring.decrypt(existing.secret_encrypted)
    if existing is not None:
        raise ValueError("an authenticator app is already active")
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    with write_transaction():
        record = Authenticator(user_id=user_id, secret_encrypted=keyring.encrypt(secret))
        db.session.add(record)
    return record, secret


def provisioning_uri(secret: str, account_name: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=account_name, issuer_name=str(current_app.config["SITE_NAME"])
    )


def qr_svg(uri: str, title: str) -> str:
    """The QR code as inline SVG, drawn here: no image service ever sees the secret."""
    import segno  # only the enrolment page draws one: not in every worker's memory

    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff", title=title))


def accept(record: Authenticator, code: str, now: float | None = None,
           also: Callable[[], object] | None = None) -> bool:
    """Check ``code`` and, when it is good, spend its step for good; ``also`` runs in the same
    transaction (the notice of a new authenticator). Rotates a secret still under an old key."""
    try:
        secret = keyring.decrypt(record.secret_encrypted)
    except keyring.KeyringError:
        return False
    step = matching_step(secret, code, record.last_step, now)
    if step is None:
        return False
    record_id, stored = record.id, record.secret_encrypted
    values: dict[str, object] = {"last_step": step}
    if record.confirmed_at is None:
        values["confirmed_at"] = utcnow()
    if keyring.needs_rotation(stored):
        values["secret_encrypted"] = keyring.rotate(stored)
    with write_transaction():
        spent = affected(db.session.execute(
            update(Authenticator).where(Authenticator.id == record_id, Authenticator.last_step < step).values(**values)
        )) == 1
        if spent and also is not None:
            also()
    db.session.expire(record)
    return spent


def remove(user_id: int, also: Callable[[], object] | None = None) -> bool:
    """Remove the account's authenticator; True (and ``also`` in the transaction) if it was active."""
    with write_transaction():
        found = of(user_id)
        if found is None:
            return False
        was_active = found.confirmed_at is not None
        db.session.delete(found)
        if was_active and also is not None:
            also()
    return was_active


def rekey_all() -> int:
    """Re-encrypt every secret under the current key (``flask mfa rekey``); returns how many."""
    count = 0
    with write_transaction():
        for record in db.session.scalars(select(Authenticator)):
            if keyring.needs_rotation(record.secret_encrypted):
                record.secret_encrypted = keyring.rotate(record.secret_encrypted)
                count += 1
    return count
