"""DKIM signatures (RFC 6376) on every outgoing message, with dkimpy, when DKIM_* is configured.

Signed at the handover (the engine, right before the transport): the one place every message
passes — account mail whose bytes were stored at enqueue time and newsletter copies built per
batch — and the bytes signed are exactly the bytes sent. The signature's ``t=`` is the moment
of sending, not of queueing.

List-Unsubscribe and List-Unsubscribe-Post are signed, as Gmail and Yahoo require of bulk mail
(RFC 8058 §4); a header listed in ``h=`` but absent is signed as absent, so nobody can add one
later without breaking the signature.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"mime-version", b"content-type",
    b"list-unsubscribe", b"list-unsubscribe-post", b"list-id", b"auto-submitted",
)


class KeyProblem(ValueError):
    """The key file is missing, unreadable or not an RSA private key; the message says which."""


@dataclass(frozen=True)
class Signer:
    domain: bytes
    selector: bytes
    key_pem: bytes

    def sign(self, raw: bytes) -> bytes:
        import dkim  # loaded by the first signature, not by every web process

        header = dkim.sign(raw, self.selector, self.domain, self.key_pem, include_headers=list(SIGNED_HEADERS))
        return bytes(header) + raw


def load_key(path: Path) -> bytes:
    """The key as PKCS#1 PEM (what dkimpy reads), checked with `cryptography` first so a bad file
    is refused at start-up with a reason, not at the first message."""
    try:
        stat = path.stat()
    except OSError as error:
        raise KeyProblem(f"cannot read {path}: {error.strerror}") from None
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> bytes:
    from cryptography.hazmat.primitives import serialization  # only where a key is configured
    from cryptography.hazmat.primitives.asymmetric import rsa

    # Keyed by modification time and size: a rotated key file is read again, an unchanged one
    # is parsed once per process, not once per message.
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise KeyProblem(f"cannot read {path}: {error.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise KeyProblem(f"{path} is not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyProblem(f"{path} is not an RSA key (DKIM with rsa-sha256 needs one)")
    if key.key_size < 1024:
        raise KeyProblem(f"{path} is a {key.key_size}-bit key; receivers ignore DKIM keys under 1024 bits (use 2048)")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def signer_for(config: Any) -> Signer | None:
    """None unless DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE are all set."""
    domain, selector, path = config.get("DKIM_DOMAIN"), config.get("DKIM_SELECTOR"), config.get("DKIM_PRIVATE_KEY_FILE")
    if not (domain and selector and path):
        return None
    return Signer(str(domain).encode("ascii"), str(selector).encode("ascii"), load_key(Path(str(path))))


def public_record(key_pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    """The DNS TXT record (``v=DKIM1; k=rsa; p=...``) that publishes the key's public half."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
