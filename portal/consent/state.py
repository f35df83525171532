"""The consent cookie: a signed record of one browser's decision, validated strictly.

Anything that is not exactly what we wrote (tampered, truncated, for an older revision, expired,
garbage) reads as "no decision": the visitor is asked again and nothing optional loads.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, g, request
from werkzeug.wrappers import Response

from portal import cookies
from portal.consent import registry
from portal.security.tokens import TokenError, make_token, read_token

PURPOSE = "consent"
MAX_COOKIE_LENGTH = 512
CONSENT_ID = re.compile(r"^[0-9a-f]{32}$")
REVISION = re.compile(r"^[0-9a-f]{16}$")
SERVICE_ID = re.compile(r"^[a-z0-9_\-]{1,40}$")  # as the registry checks operator ids
MAX_SERVICES_OFF = 16
CLOCK_SKEW = 300  # seconds a decision may lie in the future (several workers, several clocks)


def cookie_name(production: bool | None = None) -> str:
    if production is None:
        production = bool(current_app.config["PRODUCTION"])
    return cookies.CONSENT.name(production)


def max_age_seconds() -> int:
    return int(current_app.config["CONSENT_MAX_AGE_DAYS"]) * 86400


@dataclass(frozen=True)
class Decision:
    consent_id: str
    revision: str
    granted: frozenset[str]
    decided_at: datetime
    # Services switched off inside a granted category (the panel's per-service switches).
    off: frozenset[str] = frozenset()

    @property
    def expires_at(self) -> datetime:
        return self.decided_at + timedelta(seconds=max_age_seconds())

    @property
    def is_current(self) -> bool:
        return self.revision == registry.revision()

    def allows(self, category: str) -> bool:
        return category == registry.NECESSARY or (self.is_current and category in self.granted)

    def allows_service(self, service: registry.Service) -> bool:
        return self.allows(service.category) and service.id not in self.off


def new_consent_id() -> str:
    return secrets.token_hex(16)


def encode(decision: Decision) -> str:
    payload: dict[str, object] = {
        "v": 1,
        "id": decision.consent_id,
        "rev": decision.revision,
        "cats": sorted(decision.granted),
        "t": int(decision.decided_at.timestamp()),
    }
    if decision.off:
        payload["off"] = sorted(decision.off)  # absent when empty: older cookies read the same
    return make_token(PURPOSE, payload)


def _service_ids(value: object) -> frozenset[str] | None:
    """The "off" list: service ids, each once; None for anything else. Not checked against
    today's registry: a cookie of an older revision must still read (the banner says why it asks
    again), and an unknown id switches nothing off."""
    if not isinstance(value, list) or len(value) > MAX_SERVICES_OFF:
        return None
    if not all(isinstance(v, str) and SERVICE_ID.match(v) for v in value) or len(set(value)) != len(value):
        return None
    return frozenset(value)


def decode(raw: str | None) -> Decision | None:
    """The decision in a cookie value, or None for anything we did not write (or that lapsed)."""
    if not raw or len(raw) > MAX_COOKIE_LENGTH:
        return None
    try:
        payload = read_token(PURPOSE, raw, max_age=max_age_seconds())
    except TokenError:
        return None
    keys = {"v", "id", "rev", "cats", "t"}
    if not isinstance(payload, dict) or set(payload) - {"off"} != keys or payload["v"] != 1:
        return None
    off = _service_ids(payload.get("off", []))
    if off is None:
        return None
    consent_id, rev, cats, stamp = payload["id"], payload["rev"], payload["cats"], payload["t"]
    if not (isinstance(consent_id, str) and CONSENT_ID.match(consent_id)):
        return None
    if not (isinstance(rev, str) and REVISION.match(rev)):
        return None
    if not isinstance(cats, list) or len(cats) > len(registry.OPTIONAL_CATEGORIES):
        return None
    if not all(isinstance(c, str) and c in registry.OPTIONAL_CATEGORIES for c in cats) or len(set(cats)) != len(cats):
        return None
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        return None
    now = time.time()
    if not now - max_age_seconds() <= stamp <= now + CLOCK_SKEW:
        return None
    return Decision(consent_id, rev, frozenset(cats), datetime.fromtimestamp(stamp, UTC), off)


def cookie_decision() -> Decision | None:
    """The signed decision the browser sent, whatever its revision (its id is reused)."""
    if "consent_cookie" not in g:
        g.consent_cookie = decode(request.cookies.get(cookie_name()))
    return g.consent_cookie


def current_decision() -> Decision | None:
    """The decision that counts for this request: valid, unexpired and for today's registry."""
    decision = cookie_decision()
    return decision if decision is not None and decision.is_current else None


def granted_categories() -> frozenset[str]:
    decision = current_decision()
    return decision.granted if decision else frozenset()


def services_off() -> frozenset[str]:
    decision = current_decision()
    return decision.off if decision else frozenset()


def write_cookie(response: Response, decision: Decision) -> None:
    cookies.CONSENT.set(response, encode(decision), production=bool(current_app.config["PRODUCTION"]),
                        max_age=max_age_seconds())
