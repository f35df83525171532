"""Return paths that identify their message (VERP): ``bounces+<tag>@domain``.

With BOUNCE_ADDRESS set, each delivery goes out with its own envelope sender. A bounce comes back
to that address whatever the remote server wrote inside it, so the tag alone says which delivery
(and so which recipient) failed — the report's content is never trusted for that. The tag is the
delivery id and a truncated HMAC of it, keyed from SECRET_KEY for this purpose only: a forged or
altered tag does not verify and is ignored.

Tags are lower-case base32 and digits: MTAs and mailbox providers may lower-case a local part,
and the tag must survive that. The same scheme signs other addresses under the bounce address,
e.g. the newsletter's List-Unsubscribe ``mailto:`` (``bounces+unsub-<uid>-<mac>@domain``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app

MAC_LENGTH = 13  # base32 characters: 65 bits, far beyond guessing by sending forged bounces
_PURPOSE = b"portal.mail.return-path"
_DELIVERY_TAG = re.compile(rf"^(\d{{1,18}})-([a-z2-7]{{{MAC_LENGTH}}})$")


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    # Derived per purpose, so a tag's HMAC can never be replayed as another token's signature.
    return hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()


@dataclass(frozen=True)
class Tag:
    """A local-part tag under BOUNCE_ADDRESS, not yet verified (``tag`` is what follows the '+')."""

    address: str
    tag: str


class ReturnPaths:
    """Tagged addresses under one BOUNCE_ADDRESS, signed with one SECRET_KEY. Built once per
    engine (no app context in the delivery loop)."""

    def __init__(self, secret: str, bounce_address: str | None) -> None:
        self.key = _key(secret)
        self.base: tuple[str, str] | None = None
        if bounce_address:
            local, domain = bounce_address.rsplit("@", 1)
            self.base = (local.lower(), domain.lower())

    def mac(self, *parts: str) -> str:
        digest = hmac.new(self.key, "\x00".join(parts).encode("utf-8"), hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii").lower()[:MAC_LENGTH]

    def tagged(self, tag: str) -> str | None:
        """BOUNCE_ADDRESS with ``tag`` after a '+'; None when no BOUNCE_ADDRESS is set."""
        if self.base is None:
            return None
        return f"{self.base[0]}+{tag}@{self.base[1]}"

    def envelope_sender(self, delivery_id: int) -> str | None:
        """The MAIL FROM for one delivery, or None without BOUNCE_ADDRESS (the engine's default)."""
        if self.base is None:
            return None  # no HMAC per message for an address nobody uses
        return self.tagged(f"{delivery_id}-{self.mac('d', str(delivery_id))}")

    def find_tag(self, address: str) -> Tag | None:
        """The tag of an address under BOUNCE_ADDRESS (case-insensitive), or None for any other."""
        if self.base is None or not isinstance(address, str):
            return None
        address = address.strip().strip("<>").strip().lower()
        if address.count("@") != 1:
            return None
        local, domain = address.split("@")
        if domain != self.base[1] or not local.startswith(self.base[0] + "+"):
            return None
        tag = local[len(self.base[0]) + 1 :]
        return Tag(address, tag) if tag else None

    def delivery_of(self, tag: Tag) -> int | None:
        """The delivery id a tag names, only if its HMAC verifies."""
        match = _DELIVERY_TAG.match(tag.tag)
        if match is None:
            return None
        did, given = match.groups()
        return int(did) if hmac.compare_digest(given, self.mac("d", did)) else None


def current() -> ReturnPaths:
    config = current_app.config
    return ReturnPaths(str(config["SECRET_KEY"]), config.get("BOUNCE_ADDRESS"))
