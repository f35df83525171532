"""Consent statistics: how many decisions of each kind, per policy revision and per ISO week.

Aggregates only, counted by the database (GROUP BY): no consent id, no user and no single
decision ever leaves this module. Weeks are ISO weeks (Monday to Sunday) in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, cast, func, select

from portal.consent.models import ConsentRecord
from portal.extensions import db

ACTIONS = {"accept_all": "accept", "reject_all": "reject", "save": "custom"}


@dataclass
class Row:
    label: str
    counts: dict[str, int] = field(default_factory=lambda: {"accept": 0, "reject": 0, "custom": 0})

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _week_start() -> Any:
    """The Monday of the decision's ISO week, as the database computes it."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("week", ConsentRecord.decided_at), Date)
    # SQLite: forward to Sunday (or stay on it), then back six days.
    return func.date(ConsentRecord.decided_at, "weekday 0", "-6 days")


def _fold(pairs: list[tuple[Any, str, int]], label: Any) -> list[Row]:
    rows: dict[str, Row] = {}
    for key, action, count in pairs:
        name = label(key)
        row = rows.setdefault(name, Row(name))
        kind = ACTIONS.get(action)
        if kind is not None:
            row.counts[kind] += int(count)
    return list(rows.values())


def by_revision() -> list[Row]:
    pairs = db.session.execute(
        select(ConsentRecord.revision, ConsentRecord.action, func.count())
        .group_by(ConsentRecord.revision, ConsentRecord.action).order_by(ConsentRecord.revision)
    ).all()
    return _fold([(r, a, c) for r, a, c in pairs], str)


def _iso_week(value: Any) -> str:
    day = value if isinstance(value, date) else datetime.strptime(str(value)[:10], "%Y-%m-%d").date()
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def by_week(limit: int = 26) -> list[Row]:
    """The most recent ``limit`` weeks that had decisions, newest first."""
    week = _week_start().label("week")
    pairs = db.session.execute(
        select(week, ConsentRecord.action, func.count()).group_by(week, ConsentRecord.action)
        .order_by(week.desc())
    ).all()
    rows = _fold([(w, a, c) for w, a, c in pairs], _iso_week)
    return rows[:limit]


def totals(rows: list[Row]) -> Row:
    total = Row("total")
    for row in rows:
        for kind, count in row.counts.items():
            total.counts[kind] += count
    return total
