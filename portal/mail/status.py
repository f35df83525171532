"""The queue's figures for operators: `flask mail status`, the audit, and the staff console."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, literal_column, select, update

from portal.db import affected, utcnow
from portal.extensions import db
from portal.mail.kinds import get as get_kind
from portal.mail.models import FAILED, OPEN, PENDING, SENT, SKIPPED, UNCERTAIN, Delivery


@dataclass
class KindFigures:
    kind: str
    label: str
    waiting: int = 0  # due now or being handed over
    retrying: int = 0  # waiting after a temporary failure
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    oldest_waiting: datetime | None = None


@dataclass
class QueueFigures:
    kinds: list[KindFigures] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(k, name) for k in self.kinds)

    @property
    def oldest_waiting(self) -> datetime | None:
        times = [k.oldest_waiting for k in self.kinds if k.oldest_waiting is not None]
        return min(times) if times else None


def figures() -> QueueFigures:
    # A literal, not a bound 0: PostgreSQL must see the same expression in SELECT and GROUP BY.
    tried = Delivery.attempts > literal_column("0")
    rows = db.session.execute(
        select(Delivery.kind, Delivery.status, tried, func.count(), func.min(Delivery.created_at))
        .where(Delivery.status.in_((*OPEN, SENT, FAILED, UNCERTAIN, SKIPPED)))
        .group_by(Delivery.kind, Delivery.status, tried)
    ).all()
    by_kind: dict[str, KindFigures] = {}
    for kind, status, was_tried, count, oldest in rows:
        known = get_kind(kind)
        entry = by_kind.setdefault(kind, KindFigures(kind, known.label if known else kind))
        if status in OPEN:
            if status == PENDING and was_tried:
                entry.retrying += count
            else:
                entry.waiting += count
            if entry.oldest_waiting is None or oldest < entry.oldest_waiting:
                entry.oldest_waiting = oldest
        else:
            name = {SENT: "sent", FAILED: "failed", UNCERTAIN: "uncertain", SKIPPED: "skipped"}[status]
            setattr(entry, name, getattr(entry, name) + count)
    return QueueFigures(sorted(by_kind.values(), key=lambda k: k.kind))


def problems(statuses: tuple[str, ...] = (FAILED, UNCERTAIN), limit: int = 50) -> list[Delivery]:
    return list(db.session.scalars(
        select(Delivery).where(Delivery.status.in_(statuses)).order_by(Delivery.updated_at.desc()).limit(limit)
    ))


def undelivered_older_than(kind: str, seconds: int, now: datetime | None = None) -> int:
    """Messages of ``kind`` queued more than ``seconds`` ago and still not accepted by the server."""
    cutoff = (now or utcnow()) - timedelta(seconds=seconds)
    return db.session.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.kind == kind, Delivery.status.in_((*OPEN, FAILED, UNCERTAIN)), Delivery.created_at < cutoff)
    ) or 0


def requeue(statuses: tuple[str, ...], issue_id: int | None = None) -> int:
    """Failed or uncertain messages back to the queue, with a fresh retry period; the caller commits.
    A newsletter copy is re-checked (still subscribed, same address) when it goes out."""
    from flask import current_app

    now = utcnow()
    query = update(Delivery).where(Delivery.status.in_(statuses))
    if issue_id is not None:
        query = query.where(Delivery.issue_id == issue_id)
    # Transactional rows need their bytes; one whose body is gone cannot be resent.
    query = query.where((Delivery.raw.is_not(None)) | (Delivery.issue_id.is_not(None)))
    return affected(db.session.execute(query.values(
        status=PENDING, next_attempt_at=now, claimed_by=None, updated_at=now,
        expires_at=now + timedelta(seconds=current_app.config["MAIL_RETRY_FOR"]),
    )))


def purge_old(now: datetime | None = None) -> int:
    """Finished rows past MAIL_LOG_RETENTION_DAYS go, with their addresses."""
    from flask import current_app

    cutoff = (now or utcnow()) - timedelta(days=current_app.config["MAIL_LOG_RETENTION_DAYS"])
    finished = (SENT, FAILED, UNCERTAIN, SKIPPED)
    count = affected(db.session.execute(
        delete(Delivery).where(Delivery.status.in_(finished), Delivery.updated_at < cutoff)
    ))
    db.session.commit()
    return count

