"""Helpers for the second-factor tests: a software passkey authenticator and enrolment shortcuts.

``SoftAuthenticator`` does what a real authenticator does (a P-256 key pair, "none" attestation,
a signature over authenticator data and the client data hash), so the server's real py_webauthn
checks run against it. The browser tests use Chromium's own virtual authenticator instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers import csrf_token


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    origin: str = "http://127.0.0.1:8000"
    key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_handle: bytes = b""
    counter: int = 0
    user_verified: bool = True

    def _client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def _flags(self, attested: bool) -> int:
        return 0x01 | (0x04 if self.user_verified else 0) | (0x40 if attested else 0)

    def create(self, options_json: str) -> str:
        options = json.loads(options_json)
        self.user_handle = unb64url(options["user"]["id"])
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + cose
        auth_data = (hashlib.sha256(options["rp"]["id"].encode()).digest() + bytes([self._flags(True)])
                     + struct.pack(">I", self.counter) + attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"])),
                         "attestationObject": b64url(attestation), "transports": ["internal"]},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })

    def get(self, options_json: str, origin: str | None = None, rp_id: str | None = None) -> str:
        options = json.loads(options_json)
        self.counter += 1
        auth_data = (hashlib.sha256((rp_id or options["rpId"]).encode()).digest() + bytes([self._flags(False)])
                     + struct.pack(">I", self.counter))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature), "userHandle": b64url(self.user_handle)},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })


def form_token(html: str) -> str:
    """The CSRF token of a page already fetched (fetching it again would issue a new challenge)."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


OPTIONS = re.compile(r'data-options="([^"]+)"')


def page_options(html: str) -> str:
    """The passkey options a page carries (HTML-unescaped JSON)."""
    import html as html_module

    match = OPTIONS.search(html)
    assert match, "no passkey options on the page"
    return html_module.unescape(match.group(1))


SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
CODES = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


def enrol_totp(client: Any, now: float | None = None) -> tuple[str, list[str]]:
    """Set up the authenticator app through the pages; returns its secret and the recovery codes."""
    import time

    from portal.mfa import totp

    page = client.get("/account/authenticator")
    assert page.status_code == 200, page.status_code
    secret = SECRET.search(page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    token = csrf_token(client, "/account/authenticator")
    response = client.post("/account/authenticator",
                           data={"csrf_token": token, "code": totp.code_at(secret, now or time.time())})
    assert response.status_code == 200, response.get_data(as_text=True)
    return secret, CODES.findall(response.get_data(as_text=True))


def add_passkey(client: Any, device: SoftAuthenticator, name: str = "Laptop") -> Any:
    page = client.get("/account/passkeys/new")
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    return client.post("/account/passkeys", data={"csrf_token": form_token(html), "name": name,
                                                  "credential": device.create(page_options(html))})


def give_authenticator(user_id: int) -> str:
    """An active authenticator app for ``user_id`` (inside an app context); returns its secret.

    Confirmed with a code from a minute ago, so every code of the present is still unspent."""
    import time

    from portal.mfa import totp

    record, secret = totp.start_enrolment(user_id)
    assert totp.accept(record, totp.code_at(secret, time.time() - 60), time.time() - 60)
    return secret
