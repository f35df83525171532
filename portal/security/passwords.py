"""Password hashing: HMAC-SHA256 pre-hash with a server pepper, then bcrypt.

The pre-hash makes the whole password count (bcrypt reads 72 bytes at most and bcrypt 5 raises
on longer input) and keeps a stolen database useless without the pepper.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

import bcrypt
from flask import current_app

_dummy_hashes: dict[tuple[int, bytes], bytes] = {}


def _pepper() -> bytes:
    configured = current_app.config.get("PASSWORD_PEPPER")
    if configured:
        return str(configured).encode()
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"portal.password-pepper", hashlib.sha256).digest()


def _prehash(password: str) -> bytes:
    normalised = unicodedata.normalize("NFKC", password).encode("utf-8", "surrogatepass")
    digest = hmac.new(_pepper(), normalised, hashlib.sha256).digest()
    return base64.b64encode(digest)  # 44 ASCII bytes, no NUL: safe for bcrypt


def configured_rounds() -> int:
    return int(current_app.config["BCRYPT_ROUNDS"])


def hash_password(password: str, rounds: int | None = None) -> str:
    salt = bcrypt.gensalt(rounds or configured_rounds())
    return bcrypt.hashpw(_prehash(password), salt).decode("ascii")


def verify_password(password: str, hashed: str | None) -> bool:
    if not hashed:
        dummy_verify(password)
        return False
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


def hash_rounds(hashed: str) -> int:
    try:
        return int(hashed.split("$")[2])
    except (IndexError, ValueError):
        return 0


def needs_rehash(hashed: str) -> bool:
    return hash_rounds(hashed) < configured_rounds()


def dummy_verify(password: str) -> None:
    """Spend the same bcrypt work as a real check, for accounts that do not exist."""
    rounds = configured_rounds()
    key = (rounds, _pepper())
    dummy = _dummy_hashes.get(key)
    if dummy is None:
        dummy = _dummy_hashes[key] = bcrypt.hashpw(b"portal-dummy-password", bcrypt.gensalt(rounds))
    bcrypt.checkpw(_prehash(password), dummy)
