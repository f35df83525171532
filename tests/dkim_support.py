"""A DKIM key made for the tests, and a stub resolver (a function, no network) that serves its
public half the way DNS would: TXT <selector>._domainkey.<domain>."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from portal.mail.dkim_signing import public_record

DOMAIN, SELECTOR = "portal.example", "mail2026"


@lru_cache(maxsize=1)
def key_file() -> Path:
    """One 2048-bit key per test process, in a private temporary folder."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    folder = Path(tempfile.mkdtemp(prefix="portal-dkim-"))
    atexit.register(shutil.rmtree, folder, True)  # the key goes when the test process ends
    path = folder / "dkim.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def settings() -> dict[str, Any]:
    return {"DKIM_DOMAIN": DOMAIN, "DKIM_SELECTOR": SELECTOR, "DKIM_PRIVATE_KEY_FILE": str(key_file())}


def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
    from portal.mail.dkim_signing import load_key

    if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode():
        return public_record(load_key(key_file()))
    return b""
