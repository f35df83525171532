"""Scheduled issues, pausing and resuming: run by the delivery workers, kept in the database.

No cron and nothing in a process's memory: an issue's ``scheduled_at`` is read by a tick every
delivery worker runs at the start of each pass (``portal.mail.worker.add_tick``). Whichever worker
comes first claims the issue with one conditional UPDATE (a lease, so a worker that dies between
the claim and the start is replaced), then starts it through ``issues.start_issue`` — the same
monthly cap and the same frozen recipient list as ``flask newsletter send``. Even two starts at
once could not send twice: ``start_issue`` serialises on a lock and the ledger is unique per
(issue, subscriber).

Pausing holds the issue's waiting copies (status "held", which no worker claims); the tick holds
again any copy an engine put back meanwhile (a temporary failure during the pause), so the pause
holds across every worker and host until it is lifted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import func, or_, select, update

from portal.db import affected, utcnow, write_transaction
from portal.extensions import db
from portal.mail.models import CLAIMED, HELD, OPEN, PENDING, Delivery
from portal.mail.outbox import WAKE_FLAG
from portal.newsletter import issues
from portal.newsletter.models import Issue
from portal.newsletter.sender import finish_if_done

log = logging.getLogger("portal.newsletter")

LEASE = timedelta(minutes=5)  # a claimed start not finished by then is taken over by another worker
MAX_AHEAD = timedelta(days=366)


class ScheduleError(ValueError):
    """The issue cannot be scheduled, paused or resumed as asked; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class CapOutlook:
    """The monthly cap as it stands for a month: what staff see before they try."""

    month: str
    started: int  # issues that started sending in that month
    scheduled: int  # other issues scheduled for that month, not started yet
    limit: int  # NEWSLETTER_MONTHLY_LIMIT
    next_free: datetime  # the first moment of the following month

    @property
    def taken(self) -> int:
        return self.started + self.scheduled

    @property
    def refused(self) -> bool:
        """A third issue is never allowed, whatever the reason."""
        return self.taken >= issues.HARD_MONTHLY_MAXIMUM

    @property
    def needs_reason(self) -> bool:
        return not self.refused and self.taken >= self.limit


def cap_outlook(moment: datetime | None = None, exclude: int | None = None) -> CapOutlook:
    moment = moment or utcnow()
    month = issues.month_of(moment)
    started = db.session.scalar(select(func.count()).select_from(Issue).where(Issue.started_month == month)) or 0
    query = select(Issue.scheduled_at).where(
        Issue.scheduled_at.is_not(None), Issue.started_at.is_(None), Issue.schedule_error.is_(None))
    if exclude is not None:
        query = query.where(Issue.id != exclude)
    scheduled = len([when for when in db.session.scalars(query) if when is not None and issues.month_of(when) == month])
    return CapOutlook(month, started, scheduled, int(current_app.config["NEWSLETTER_MONTHLY_LIMIT"]),
                      issues.next_month_start(moment))


def state(issue: Issue) -> str:
    """draft · scheduled · refused (a schedule that could not start) · sending · paused · finished"""
    if issue.started_at is None:
        if issue.schedule_error:
            return "refused"
        return "scheduled" if issue.scheduled_at is not None else "draft"
    if issue.paused_at is not None:
        return "paused"
    return "finished" if issue.finished_at is not None else "sending"


def schedule(issue: Issue, when: datetime, second_this_month: bool, reason: str | None) -> CapOutlook:
    """Set (or move) the time an unstarted issue goes out; the caller commits, with its audit entry.

    The cap is checked now for the month of ``when``, counting the issues already scheduled for
    it, and again by ``start_issue`` when the time comes."""
    now = utcnow()
    if issue.started_at is not None:
        raise ScheduleError("started")
    if when <= now:
        raise ScheduleError("past")
    if when > now + MAX_AHEAD:
        raise ScheduleError("too-far")
    reason = (reason or "").strip() or None
    outlook = cap_outlook(when, exclude=issue.id)
    if outlook.refused:
        raise issues.CapError("a third issue in the month", "third")
    if outlook.needs_reason and not (second_this_month and reason):
        raise issues.CapError("a second issue needs a reason", "reason")
    issue.scheduled_at = when
    issue.schedule_second = bool(second_this_month and reason)
    issue.schedule_reason = reason if second_this_month else None
    issue.schedule_claimed_at = None
    issue.schedule_error = None
    return outlook


def unschedule(issue: Issue) -> None:
    if issue.started_at is not None:
        raise ScheduleError("started")
    issue.scheduled_at = None
    issue.schedule_claimed_at = None
    issue.schedule_error = None


def _claim(issue_id: int, now: datetime) -> bool:
    """The one worker that may start the issue now: a conditional UPDATE that only one can win."""
    with write_transaction():
        won = affected(db.session.execute(
            update(Issue)
            .where(Issue.id == issue_id, Issue.started_at.is_(None), Issue.scheduled_at <= now,
                   Issue.schedule_error.is_(None),
                   or_(Issue.schedule_claimed_at.is_(None), Issue.schedule_claimed_at < now - LEASE))
            .values(schedule_claimed_at=now)
        ))
    return won == 1


def start_due(app: Flask) -> list[int]:
    """Start every scheduled issue whose time has come and that no live worker is starting."""
    now = utcnow()
    due = list(db.session.scalars(
        select(Issue.id).where(Issue.scheduled_at <= now, Issue.started_at.is_(None), Issue.schedule_error.is_(None),
                               or_(Issue.schedule_claimed_at.is_(None), Issue.schedule_claimed_at < now - LEASE))
        .order_by(Issue.scheduled_at)
    ))
    db.session.rollback()
    started = []
    for issue_id in due:
        if not _claim(issue_id, now):
            continue
        issue = db.session.get(Issue, issue_id)
        assert issue is not None
        second, reason = issue.schedule_second, issue.schedule_reason
        db.session.rollback()
        try:
            issues.start_issue(issue_id, second, reason)
        except (issues.CapError, issues.IssueError) as error:
            log.warning("Scheduled newsletter issue %d did not start: %s", issue_id, error)
            with write_transaction():
                # The rule's code, not the CLI's English sentence: staff read it in their language.
                db.session.execute(update(Issue).where(Issue.id == issue_id).values(schedule_error=error.code))
            continue
        log.info("Scheduled newsletter issue %d started", issue_id)
        started.append(issue_id)
    return started


def pause(issue: Issue) -> int:
    """Hold the issue's waiting copies; a copy already being handed over finishes. Inside the
    caller's ``write_transaction`` (with its audit entry): the pause holds once it commits."""
    current = db.session.get(Issue, issue.id, populate_existing=True)
    if current is None or current.started_at is None:
        raise ScheduleError("not-started")
    if current.paused_at is not None:
        raise ScheduleError("paused")
    if current.finished_at is not None:
        raise ScheduleError("finished")
    current.paused_at = utcnow()
    return _hold(issue.id)


def _hold(issue_id: int) -> int:
    # Claimed copies are taken back from their engine too: its "sending" mark checks the status,
    # finds "held", and leaves the copy alone (portal.mail.engine, _skip_if_unwanted).
    return affected(db.session.execute(
        update(Delivery).where(Delivery.issue_id == issue_id, Delivery.status.in_((PENDING, CLAIMED)))
        .values(status=HELD, claimed_by=None, claimed_at=None, updated_at=utcnow())
    ))


def resume(issue: Issue) -> int:
    """Release the held copies to the queue (their retry times kept) and wake the workers. Inside
    the caller's ``write_transaction``, like ``pause``."""
    current = db.session.get(Issue, issue.id, populate_existing=True)
    if current is None or current.paused_at is None:
        raise ScheduleError("not-paused")
    current.paused_at = None
    current.finished_at = None
    count = affected(db.session.execute(
        update(Delivery).where(Delivery.issue_id == issue.id, Delivery.status == HELD)
        .values(status=PENDING, updated_at=utcnow())
    ))
    db.session.info[WAKE_FLAG] = True
    return count


def keep_paused_and_finish(app: Flask) -> None:
    """Hold again what an engine released during a pause; mark finished what has nothing left."""
    paused = list(db.session.scalars(select(Issue.id).where(Issue.paused_at.is_not(None))))
    open_ = list(db.session.scalars(
        select(Issue.id).where(Issue.started_at.is_not(None), Issue.finished_at.is_(None), Issue.paused_at.is_(None))
    ))
    db.session.rollback()
    for issue_id in paused:
        stray = db.session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.issue_id == issue_id, Delivery.status.in_((PENDING, CLAIMED))))
        db.session.rollback()
        if stray:
            with write_transaction():
                held = db.session.get(Issue, issue_id, populate_existing=True)
                if held is not None and held.paused_at is not None:
                    _hold(issue_id)
    for issue_id in open_:
        # A read first: the write lock finish_if_done takes is not worth it while copies remain.
        remaining = db.session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.issue_id == issue_id, Delivery.status.in_(OPEN)))
        db.session.rollback()
        if not remaining:
            finish_if_done(issue_id)


def tick(app: Flask) -> None:
    """The delivery workers' hook (registered in ``portal.newsletter.init_app``)."""
    start_due(app)
    keep_paused_and_finish(app)
