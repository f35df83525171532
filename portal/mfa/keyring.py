"""Encryption at rest of the authenticator apps' secrets, with keys derived from SECRET_KEY.

Each key is HKDF-SHA256 of a secret key (its own ``info`` label, so it is never the key that signs
cookies) turned into a Fernet key (AES-128-CBC + HMAC-SHA256). The keyring is the current
SECRET_KEY first, then every ``MFA_OLD_SECRET_KEYS`` entry: the first encrypts, any decrypts, and
``rotate`` re-encrypts under the first. Rotation: add the old SECRET_KEY to MFA_OLD_SECRET_KEYS,
set the new SECRET_KEY, run ``flask mfa rekey`` (or let each secret be re-encrypted at its next
use), then drop the old key.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from flask import current_app

# cryptography's OpenSSL bindings are ~8 MB of a worker's memory, and only enrolling or checking
# an authenticator app needs them: imported at the first use, not with the app.
if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

INFO = b"portal.mfa.totp-secret.v1"


class KeyringError(ValueError):
    """A stored secret that no key of the keyring opens (a SECRET_KEY lost without rotation)."""


def derive(secret_key: str) -> Fernet:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def keyring() -> MultiFernet:
    from cryptography.fernet import MultiFernet

    keys = [str(current_app.config["SECRET_KEY"]), *current_app.config.get("MFA_OLD_SECRET_KEYS", [])]
    return MultiFernet([derive(key) for key in keys])


def encrypt(plain: str) -> str:
    return keyring().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return keyring().decrypt(token.encode()).decode()
    except InvalidToken:
        raise KeyringError("no key of the keyring decrypts this secret") from None


def needs_rotation(token: str) -> bool:
    """Whether ``token`` was encrypted under an old key."""
    from cryptography.fernet import InvalidToken

    try:
        derive(str(current_app.config["SECRET_KEY"])).decrypt(token.encode())
    except InvalidToken:
        return True
    return False


def rotate(token: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return keyring().rotate(token.encode()).decode()
    except InvalidToken:
        raise KeyringError("no key of the keyring decrypts this secret") from None
