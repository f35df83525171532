"""Consent decisions as plain functions: record them, prove them, and clean up after refusals."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from portal import i18n
from portal.consent import registry, state, texts
from portal.consent.models import ConsentRecord, ConsentSnapshot
from portal.db import affected, utcnow, write_transaction
from portal.extensions import db

ACTIONS = ("accept_all", "reject_all", "save")


class ConsentError(ValueError):
    """A decision that cannot be recorded as asked (an unknown action, say)."""


def granted_for(action: str, chosen: Iterable[str]) -> frozenset[str]:
    """The optional categories an action grants; only categories with a configured service count."""
    offered = set(registry.registry().categories_in_use())
    if action == "accept_all":
        return frozenset(offered)
    if action == "reject_all":
        return frozenset()
    if action == "save":
        return frozenset(offered & set(chosen))
    raise ConsentError(f"unknown action {action!r}")


def services_off(action: str, granted: frozenset[str], switched_on: Iterable[str] | None) -> frozenset[str]:
    """Services of granted categories the panel's switches turned off. ``switched_on`` is None
    when the form had no per-service switches (the choice is then the category's alone)."""
    if action != "save" or switched_on is None:
        return frozenset()
    on = set(switched_on)
    return frozenset(s.id for s in registry.registry().switchable() if s.category in granted and s.id not in on)


def current_snapshot() -> ConsentSnapshot:
    """The snapshot row of what is shown right now, created the first time it is needed."""
    reg = registry.registry()
    # One revision, one snapshot per language: the words this person was shown are the proof.
    language = i18n.current_language()
    banner_text = texts.banner(reg, current_app.config["SITE_NAME"]).as_text()
    registry_json = json.dumps(reg.describe(), sort_keys=True, ensure_ascii=False)
    policy_name, policy_text = texts.policy_text(language)
    digest = hashlib.sha256(
        "\0".join((reg.revision, language, banner_text, registry_json, policy_name, policy_text)).encode()
    ).hexdigest()
    found = db.session.scalar(select(ConsentSnapshot).where(ConsentSnapshot.digest == digest))
    if found is not None:
        return found
    snapshot = ConsentSnapshot(
        digest=digest, revision=reg.revision, banner_text=banner_text, registry_json=registry_json,
        policy_name=policy_name, policy_text=policy_text, language=language,
    )
    try:
        # A savepoint: a concurrent first decision may insert the same snapshot; keep theirs.
        with db.session.begin_nested():
            db.session.add(snapshot)
    except IntegrityError:
        found = db.session.scalar(select(ConsentSnapshot).where(ConsentSnapshot.digest == digest))
        if found is None:
            raise
        return found
    return snapshot


def record_decision(
    action: str, chosen: Iterable[str] = (), *, previous: state.Decision | None = None,
    user_id: int | None = None, via: str = "form", switched_on: Iterable[str] | None = None,
) -> state.Decision:
    """Store one decision and return it; the caller writes it into the cookie."""
    granted = granted_for(action, chosen)
    off = services_off(action, granted, switched_on)
    # The proof lists a service switched off inside a granted category as "service:<id>".
    refused = [c for c in registry.OPTIONAL_CATEGORIES if c not in granted] + [f"service:{i}" for i in sorted(off)]
    now = utcnow().replace(microsecond=0)
    # One browser keeps its consent id across decisions, so its history reads as one story.
    consent_id = previous.consent_id if previous is not None else state.new_consent_id()
    decision = state.Decision(consent_id, registry.revision(), granted, now, off)
    # SQLite: concurrent first visitors queue here instead of "database is locked"
    with write_transaction():
        snapshot = current_snapshot()
        db.session.add(
            ConsentRecord(
                consent_id=consent_id, decided_at=now, expires_at=decision.expires_at, action=action,
                granted=",".join(sorted(granted)), refused=",".join(refused), revision=decision.revision,
                snapshot=snapshot, via=via if via in ("form", "script") else "form", user_id=user_id,
                language=snapshot.language,
            )
        )
    return decision


def cookies_to_expire(refused: Iterable[str], present: Iterable[str], off: Iterable[str] = ()) -> list[str]:
    """Exact cookie names of refused categories and switched-off services, plus present cookies
    matching their patterns — but never a cookie a service still allowed also sets (GA4 and GTM
    share _ga)."""
    refused, off = set(refused), set(off)
    services = registry.registry().services
    stopped = [s for s in services if s.category in refused or s.id in off]
    kept = [s for s in services if s not in stopped]
    specs = [c for s in stopped for c in s.cookies]
    names = {c.name for c in specs if not c.is_pattern}
    names |= {name for name in present for c in specs if c.matches(name)}
    still_used = {name for name in names for s in kept for c in s.cookies if c.matches(name)}
    necessary = {c.name for c in registry.registry().necessary}
    return sorted(names - necessary - still_used)


def cookie_domains(host: str) -> list[str | None]:
    """Where a tracker may have put its cookies: this host only, the host and each parent domain."""
    domains: list[str | None] = [None]
    if host.startswith("["):
        return domains  # an IPv6 literal has no domain cookies
    host = host.split(":")[0].strip(".").lower()
    try:
        ipaddress.ip_address(host)
        return domains  # neither has an IPv4 address
    except ValueError:
        pass
    labels = host.split(".")
    # GA writes to the highest domain it may ("example.com" for "portal.example.com"); browsers
    # ignore the attempts on a public suffix, so every parent with two labels or more is tried.
    for start in range(len(labels) - 1):
        domains.append(".".join(labels[start:]))
    return domains


def expired_cookies(names: Iterable[str], host: str) -> list[tuple[str, str | None]]:
    """(name, domain) of every cookie to expire: each name on this host and each parent domain."""
    return [(name, domain) for name in names for domain in cookie_domains(host)]


# --- personal data and retention -------------------------------------------------------------


def export(user: Any) -> dict[str, Any]:
    records = db.session.scalars(
        select(ConsentRecord).where(ConsentRecord.user_id == user.id).order_by(ConsentRecord.decided_at)
    ).all()
    return {
        "consent_records": [
            {
                "consent_id": r.consent_id,
                "decided_at": r.decided_at.isoformat(),
                "expires_at": r.expires_at.isoformat(),
                "action": r.action,
                "granted": r.granted_list,
                "refused": r.refused_list,
                "revision": r.revision,
                "via": r.via,
                "language": r.language,
            }
            for r in records
        ]
    }


def erase(user: Any) -> None:
    # The anonymous proof stays (the operator must be able to show consent was asked for and
    # given); only the link to the person goes.
    db.session.execute(update(ConsentRecord).where(ConsentRecord.user_id == user.id).values(user_id=None))


def purge_expired_records() -> int:
    days = int(current_app.config["CONSENT_PROOF_RETENTION_DAYS"])
    cutoff = utcnow() - timedelta(days=days)
    count = affected(db.session.execute(delete(ConsentRecord).where(ConsentRecord.expires_at < cutoff)))
    db.session.commit()
    return count
