"""The policy audit as a page, and the retention purge's runs: when, and what each removed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal import audit
from portal.db import utcnow
from portal.extensions import db
from portal.staff.models import PurgeRun


def audit_results() -> list[audit.Result]:
    return audit.run()


def record_purge(started_at: datetime, counts: dict[str, int | None]) -> PurgeRun:
    """Keep one run of the purge (``None`` for a kind that failed); commits."""
    run = PurgeRun(started_at=started_at, finished_at=utcnow(), counts=json.dumps(counts, ensure_ascii=False),
                   failures=sum(1 for c in counts.values() if c is None))
    db.session.add(run)
    db.session.commit()
    return run


@dataclass(frozen=True)
class Run:
    started_at: datetime
    finished_at: datetime
    counts: dict[str, int | None]
    failures: int

    @property
    def removed(self) -> int:
        return sum(c for c in self.counts.values() if c is not None)


def _counts(raw: str) -> dict[str, int | None]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, int) else None for k, v in value.items()}


def purge_runs(limit: int = 10) -> list[Run]:
    rows = db.session.scalars(select(PurgeRun).order_by(PurgeRun.started_at.desc(), PurgeRun.id.desc()).limit(limit))
    return [Run(r.started_at, r.finished_at, _counts(r.counts), r.failures) for r in rows]
