"""Signed, expiring tokens for links in emails (confirmation, reset, unsubscribe, ...).

One serializer per purpose (the salt), so a token made for one job never opens another door.
Single use is the caller's job: put a fingerprint of the state the token changes into the
payload and compare it when the token comes back.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

MAX_TOKEN_LENGTH = 1024


class TokenError(ValueError):
    """The token is malformed, tampered with, for another purpose, or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return _cached_serializer(current_app.config["SECRET_KEY"], purpose)


@lru_cache(maxsize=64)
def _cached_serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    # Built once per key and purpose: the newsletter makes one token per recipient.
    return URLSafeTimedSerializer(secret, salt=f"portal.{purpose}")


def make_token(purpose: str, payload: Any) -> str:
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, max_age: int | None) -> Any:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed")
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenError("expired") from None
    except (BadSignature, UnicodeError, ValueError):
        raise TokenError("invalid") from None
