"""Recovery codes: ten single-use codes, shown once, stored as HMACs.

A code is 10 characters from an alphabet without look-alikes (about 49 bits). The HMAC key is
derived from SECRET_KEY (and the former keys of MFA_OLD_SECRET_KEYS, so a rotation keeps codes
working): a stolen database alone does not let anyone test guesses offline.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable

from flask import current_app
from sqlalchemy import delete, func, select, update

from portal.db import affected, utcnow, write_transaction
from portal.extensions import db
from portal.mfa.models import RecoveryCode

COUNT = 10
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 10


def normalise(code: str | None) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()[:64]


def looks_like_code(code: str | None) -> bool:
    value = normalise(code)
    return len(value) == LENGTH and all(ch in ALPHABET for ch in value)


def _keys() -> list[bytes]:
    keys = [str(current_app.config["SECRET_KEY"]), *current_app.config.get("MFA_OLD_SECRET_KEYS", [])]
    return [hashlib.sha256(b"portal.mfa.recovery.v1\x00" + key.encode()).digest() for key in keys]


def _digest(key: bytes, code: str) -> str:
    return hmac.new(key, normalise(code).encode(), hashlib.sha256).hexdigest()


def _shown(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def generate(user_id: int, also: Callable[[], object] | None = None) -> list[str]:
    """Replace the account's codes with ten new ones; returns them (the only time they exist)."""
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    key = _keys()[0]
    with write_transaction():
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        db.session.add_all(RecoveryCode(user_id=user_id, code_hash=_digest(key, code)) for code in codes)
        if also is not None:
            also()
    return [_shown(code) for code in codes]


def remaining(user_id: int) -> int:
    return int(db.session.scalar(
        select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    ) or 0)


def use(user_id: int, code: str, also: Callable[[], object] | None = None) -> bool:
    """Spend ``code`` if it is one of the account's unused codes; it never works again."""
    if not looks_like_code(code):
        return False
    digests = [_digest(key, code) for key in _keys()]
    with write_transaction():
        found = db.session.scalar(select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None), RecoveryCode.code_hash.in_(digests)
        ))
        if found is None:
            return False
        spent = affected(db.session.execute(
            update(RecoveryCode).where(RecoveryCode.id == found, RecoveryCode.used_at.is_(None))
            .values(used_at=utcnow())
        )) == 1
        if spent and also is not None:
            also()
    return spent


def clear(user_id: int) -> None:
    with write_transaction():
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
