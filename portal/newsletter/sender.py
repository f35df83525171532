"""Sending an issue: the mail engine, limited to the issue's copies, driven in the foreground.

The copies are rows of the one delivery ledger (``portal.mail.models.Delivery``), frozen when
the issue starts; web-process workers and ``flask mail deliver`` deliver them too, and the claims
keep every copy to one handover whoever takes it. A run ends when nothing of the issue is due;
with ``wait`` it also waits out temporary failures until the issue is finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update

from portal.appctx import current_app_object
from portal.db import utcnow, write_transaction
from portal.extensions import db
from portal.mail import status as queue
from portal.mail.engine import Engine, Options, Outcome, Paused, next_due
from portal.mail.models import OPEN, UNCERTAIN, Delivery
from portal.newsletter import issues
from portal.newsletter.models import Issue

__all__ = ["Outcome", "Paused", "SendOptions", "Sender"]


@dataclass
class SendOptions:
    rate: float | None = None  # messages per second; None = as fast as the server takes them
    resend_uncertain: bool = False
    batch_size: int = 100
    max_failures: int = 5  # consecutive connection failures before pausing
    failure_delay: float = 1.0  # back-off unit between reconnection attempts
    lease: float = 300.0  # seconds a claim stays valid without renewal
    wait: bool = True  # wait for copies deferred by temporary failures until the issue is finished
    retry_delay: float = 30.0  # the longest pause between looks at deferred copies


class Sender:
    def __init__(self, issue_id: int, options: SendOptions | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.issue_id = issue_id
        self.options = options or SendOptions()
        self.progress = progress or (lambda outcome: None)
        self.outcome = Outcome()

    def run(self) -> Outcome:
        issue = issues.get_issue(self.issue_id)
        if issue.started_at is None:
            raise issues.IssueError(f"Issue {self.issue_id} has not been started; start it with the send command.")
        db.session.rollback()
        if self.options.resend_uncertain:
            with write_transaction():
                queue.requeue((UNCERTAIN,), issue_id=self.issue_id)
        app = current_app_object()
        o = self.options
        options = Options(issue_id=self.issue_id, batch_size=o.batch_size, lease=o.lease, rate=o.rate,
                          max_failures=o.max_failures, failure_delay=o.failure_delay)
        # One engine for the whole send: its count of consecutive connection failures spans the
        # runs, so a server that stays down pauses the send (Paused) instead of being retried forever.
        engine = Engine(app, options, self.progress)
        engine.outcome = self.outcome
        try:
            while True:
                engine.run()
                due = next_due(self.issue_id)
                if due is None or not o.wait:
                    break
                time.sleep(max(0.01, min((due - utcnow()).total_seconds(), o.retry_delay)))
        finally:
            finish_if_done(self.issue_id)
        return self.outcome


def finish_if_done(issue_id: int) -> bool:
    """An issue is finished once none of its copies is waiting, retrying or being handed over."""
    # read-then-write: on SQLite take the write lock first
    with write_transaction():
        open_rows = db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.issue_id == issue_id, Delivery.status.in_(OPEN))
        )
        if not open_rows:
            db.session.execute(
                update(Issue).where(Issue.id == issue_id, Issue.finished_at.is_(None)).values(finished_at=utcnow())
            )
    return not open_rows
