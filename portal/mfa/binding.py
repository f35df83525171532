"""What ties a pending sign-in step or a passkey challenge to the browser that asked for it.

A random value in the signed Flask session; the database keeps its SHA-256 only. Another browser
(or a replayed request without that session) finds nothing. ``start_session`` clears the Flask
session at sign-in, so nothing issued before a sign-in survives it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, session
from sqlalchemy import delete, select

from portal.db import affected, utcnow, write_transaction
from portal.extensions import db
from portal.mfa.models import Challenge, PendingStep

SESSION_KEY = "mfa_binding"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def current(create: bool = False) -> str | None:
    """The SHA-256 of this browser's binding value, made on first use when ``create``."""
    raw = session.get(SESSION_KEY)
    if not isinstance(raw, str) or not 20 <= len(raw) <= 100:
        if not create:
            return None
        raw = secrets.token_urlsafe(32)
        session[SESSION_KEY] = raw
    return _hash(raw)


def _alive(created_at: datetime, seconds: int, now: datetime | None = None) -> bool:
    return (now or utcnow()) - created_at <= timedelta(seconds=seconds)


# --- WebAuthn challenges ---------------------------------------------------------------------------


def issue_challenge(purpose: str, challenge: str, user_id: int | None, user_handle: str = "") -> None:
    """Keep ``challenge`` (base64url) for this browser and purpose, replacing any earlier one."""
    binding = current(create=True)
    with write_transaction():
        db.session.execute(delete(Challenge).where(Challenge.binding_hash == binding, Challenge.purpose == purpose))
        db.session.add(Challenge(binding_hash=binding, purpose=purpose, challenge=challenge, user_id=user_id,
                                 user_handle=user_handle))


def take_challenge(purpose: str) -> Challenge | None:
    """This browser's challenge for ``purpose``, deleted as it is read: a challenge works once."""
    binding = current()
    if binding is None:
        return None
    with write_transaction():
        found = db.session.scalar(
            select(Challenge).where(Challenge.binding_hash == binding, Challenge.purpose == purpose)
        )
        if found is None:
            return None
        db.session.delete(found)
        db.session.flush()
        db.session.expunge(found)
    if not _alive(found.created_at, current_app.config["WEBAUTHN_CHALLENGE_SECONDS"]):
        return None
    return found


# --- pending second steps --------------------------------------------------------------------------


def start_pending(user_id: int, next_path: str) -> None:
    binding = current(create=True)
    with write_transaction():
        db.session.execute(delete(PendingStep).where(PendingStep.binding_hash == binding))
        db.session.add(PendingStep(binding_hash=binding, user_id=user_id, next_path=next_path[:512]))


def pending(now: datetime | None = None) -> PendingStep | None:
    """This browser's pending second step, if it is younger than MFA_PENDING_SECONDS."""
    binding = current()
    if binding is None:
        return None
    step = db.session.scalar(select(PendingStep).where(PendingStep.binding_hash == binding))
    if step is None or not _alive(step.created_at, current_app.config["MFA_PENDING_SECONDS"], now):
        return None
    return step


def end_pending(step: PendingStep) -> bool:
    """Delete the step; False when a concurrent request used it first (it counts once)."""
    step_id = step.id
    with write_transaction():
        gone = db.session.execute(delete(PendingStep).where(PendingStep.id == step_id))
    return affected(gone) == 1


def purge_expired(now: datetime | None = None) -> int:
    now = now or utcnow()
    with write_transaction():
        pending_cut = now - timedelta(seconds=current_app.config["MFA_PENDING_SECONDS"])
        challenge_cut = now - timedelta(seconds=current_app.config["WEBAUTHN_CHALLENGE_SECONDS"])
        count = affected(db.session.execute(delete(PendingStep).where(PendingStep.created_at < pending_cut)))
        count += affected(db.session.execute(delete(Challenge).where(Challenge.created_at < challenge_cut)))
    return count
