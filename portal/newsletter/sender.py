"""The sender: claims ledger rows in batches and sends each message at most once.

Per message: check the subscription and mark the row "sending" (commit) -> hand it to SMTP ->
mark it "sent" (commit) the moment the server accepts it. A crash between the two commits leaves
"sending", which a later run reports as "uncertain" instead of guessing. Rows are owned by a
claim owner with a lease, so a live concurrent sender's rows are never mistaken for a dead one's.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection

from portal import mail
from portal.db import begin_write as _begin_write
from portal.db import utcnow
from portal.extensions import db
from portal.newsletter import issues, ledger, pipelined
from portal.newsletter.ledger import describe as _describe
from portal.newsletter.models import (
    CLAIMED,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    UNCERTAIN,
    Delivery,
    Issue,
)
from portal.newsletter.render import MessageFactory, PreparedMessage, render_issue
from portal.newsletter.subscriptions import unsubscribe_token


class Paused(RuntimeError):
    """Too many consecutive connection failures: the SMTP server looks down. Resumable."""


class _ConnectionLost(Exception):
    pass


@dataclass
class SendOptions:
    rate: float | None = None  # messages per second; None = as fast as the server takes them
    resend_uncertain: bool = False
    batch_size: int = 100
    max_attempts: int = 3  # per recipient, for rejections by the server
    retry_delay: float = 30.0  # seconds before a rejected recipient is tried again
    max_failures: int = 5  # consecutive connection failures before pausing
    failure_delay: float = 1.0  # back-off unit between reconnection attempts
    lease: float = 300.0  # seconds a claim stays valid without renewal


@dataclass
class Outcome:
    sent: int = 0
    skipped: int = 0
    rejected: int = 0
    failed: int = 0
    uncertain: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Sender:
    def __init__(
        self,
        issue_id: int,
        options: SendOptions | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.issue_id = issue_id
        self.options = options or SendOptions()
        self.progress = progress or (lambda outcome: None)
        self.owner = ledger.make_owner()
        self._unmarked: int | None = None  # accepted by SMTP, "sent" not yet committed
        self._recipients: dict[int, tuple[int, str, str]] = {}
        self._conn: Connection | None = None
        self._autocommit: Connection | None = None  # PostgreSQL's one-statement marks
        self.outcome = Outcome()
        self._next_slot = time.monotonic()
        self._renewed = time.monotonic()
        self._failures = 0

    # --- the run -------------------------------------------------------------------------------

    def run(self) -> Outcome:
        issue = issues.get_issue(self.issue_id)
        if issue.started_at is None:
            raise issues.IssueError(f"Issue {self.issue_id} has not been started; start it with the send command.")
        self.messages = MessageFactory(render_issue(issue.subject, issue.body_markdown))
        self.base_url = str(current_app.config["BASE_URL"])
        db.session.rollback()
        # The sender's own connection, opened here (it needs the app context, the worker thread
        # that overlaps commits with SMTP has none). SQLite: BEGIN IMMEDIATE, see portal.db.begin_write.
        self._conn = db.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        if db.engine.dialect.name == "postgresql":
            self._autocommit = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsletter-db")
        try:
            if self.options.resend_uncertain:
                self._update(Delivery.status == UNCERTAIN, status=PENDING, attempts=Delivery.attempts - 1)
            self.recover_stale()
            while True:
                ids = self.claim()
                if not ids and self.recover_stale():
                    ids = self.claim()
                if not ids:
                    wait = self._retry_wait()
                    if wait is None:
                        break
                    time.sleep(wait)
                    continue
                self.send_batch(ids)
        finally:
            self.release_own()
        self._maybe_finish()
        return self.outcome

    def _update(self, *where, **values) -> int:  # type: ignore[no-untyped-def]
        _begin_write()
        values.setdefault("updated_at", utcnow())
        count = db.session.execute(
            update(Delivery).where(Delivery.issue_id == self.issue_id, *where).values(**values)
        ).rowcount
        db.session.commit()
        return count or 0

    def recover_stale(self) -> int:
        """Rows held by a dead sender (same host, process gone) or an expired lease: "claimed"
        ones go back to pending (never handed to SMTP); "sending" ones become uncertain."""
        owners = db.session.scalars(
            select(Delivery.claimed_by)
            .where(Delivery.issue_id == self.issue_id, Delivery.status.in_((CLAIMED, SENDING)))
            .where(Delivery.claimed_by != self.owner)
            .distinct()
        ).all()
        db.session.rollback()
        if not owners:
            return 0
        dead = [o for o in owners if o and ledger.owner_is_dead(o)]
        expired = utcnow() - timedelta(seconds=self.options.lease)
        stale = or_(Delivery.claimed_by.in_(dead), Delivery.claimed_at < expired)
        base = (Delivery.claimed_by != self.owner, stale)
        freed = self._update(Delivery.status == CLAIMED, *base, status=PENDING, claimed_by=None, claimed_at=None)
        lost = self._update(Delivery.status == SENDING, *base, status=UNCERTAIN, claimed_by=None,
                            last_error="the sender stopped after handing the message to SMTP")
        return freed + lost

    def claim(self) -> list[int]:
        now = utcnow()
        _begin_write()
        query = (
            select(Delivery.id)
            .where(Delivery.issue_id == self.issue_id, Delivery.status == PENDING)
            .where(or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
            .order_by(Delivery.id)
            .limit(self._batch_size())
        )
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(db.session.scalars(query))
        if ids:
            db.session.execute(
                update(Delivery).where(Delivery.id.in_(ids))
                .values(status=CLAIMED, claimed_by=self.owner, claimed_at=now, updated_at=now)
            )
        db.session.commit()
        if ids:
            # Addresses are read once per batch; MARK_SENDING re-checks them per message.
            rows = db.session.execute(ledger.RECIPIENTS, {"ids": ids}).all()
            self._recipients = {row[0]: (row[1], row[2], row[3]) for row in rows}
            db.session.rollback()
        self._renewed = time.monotonic()
        return ids

    def _batch_size(self) -> int:
        # A throttled batch should not outlive a fraction of its lease.
        size = self.options.batch_size
        if self.options.rate:
            size = min(size, max(1, int(self.options.rate * self.options.lease / 10)))
        return size

    def _retry_wait(self) -> float | None:
        """Seconds until the next rejected recipient may be retried, or None when nothing waits."""
        earliest = db.session.scalar(
            select(func.min(Delivery.next_attempt_at))
            .where(Delivery.issue_id == self.issue_id, Delivery.status == PENDING)
        )
        db.session.rollback()
        if earliest is None:
            return None
        return max(0.05, min((earliest - utcnow()).total_seconds(), self.options.retry_delay))

    # --- one batch over one connection ---------------------------------------------------------

    def send_batch(self, ids: list[int]) -> None:
        remaining = list(ids)
        try:
            with mail.connection() as conn:
                host = getattr(conn, "host", None)
                while remaining:
                    self._throttle()
                    delivery_id = remaining.pop(0)
                    ready = self._recipients.get(delivery_id)
                    if host is not None and ready is not None and ready[1].isascii():
                        pipelined.send(self, host, conn, delivery_id, self._recipients.pop(delivery_id))
                        continue
                    recipient = self.prepare(delivery_id)
                    if recipient is not None:
                        self._send_one(conn, delivery_id, *recipient)
                self._flush_sent()
        except (_ConnectionLost, smtplib.SMTPException, OSError) as error:
            self._flush_sent()
            self._release(remaining)
            self._failures += 1
            if self._failures >= self.options.max_failures:
                raise Paused(
                    f"Paused: {self._failures} consecutive failures talking to the mail server "
                    f"(last: {_describe(error)}). Nothing was lost; run the same command again to resume."
                ) from None
            time.sleep(self.options.failure_delay * self._failures)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction on the sender's own connection (Core, not the ORM session: this
        runs once per message). It also commits the "sent" mark of the previous message, so each
        message costs one commit and "sent" is still committed before the next handover."""
        assert self._conn is not None, "opened in run()"
        with self._conn.begin():
            if self._unmarked is not None:
                self._conn.execute(ledger.MARK_SENT, {"did": self._unmarked, "now": utcnow()})
            yield self._conn
        self._unmarked = None

    def _flush_sent(self) -> None:
        if self._unmarked is not None:
            with self._write():
                pass

    def prepare(self, delivery_id: int) -> tuple[int, str, str] | None:
        """Right before the message: still subscribed, confirmed, same address? Then "sending"."""
        recipient = self._recipients.pop(delivery_id, None)
        if recipient is not None:
            params = {"did": delivery_id, "owner": self.owner, "key": recipient[2], "now": utcnow()}
            with self._write() as conn:
                taken = conn.execute(ledger.MARK_SENDING, params).rowcount
                self._renew_lease(conn)
            if taken == 1:
                return recipient
        return self._why_not(delivery_id)

    def mark_sending(self, delivery_id: int, key: str) -> bool:
        """Runs on the worker thread while the SMTP envelope is under way (see pipelined)."""
        params = {"did": delivery_id, "owner": self.owner, "key": key, "now": utcnow()}
        if self._autocommit is not None:
            params["prev"] = self._unmarked
            taken = len(self._autocommit.execute(ledger.MARK_SENT_THEN_SENDING, params).all())
            self._unmarked = None
            if time.monotonic() - self._renewed > self.options.lease / 4:
                with self._write() as conn:
                    self._renew_lease(conn)
            return taken == 1
        with self._write() as conn:
            taken = conn.execute(ledger.MARK_SENDING, params).rowcount
            self._renew_lease(conn)
        return taken == 1

    def _why_not(self, delivery_id: int) -> tuple[int, str, str] | None:
        """The rare path: find out why the row could not be marked, and record it."""
        with self._write() as conn:
            row = conn.execute(ledger.WHY_NOT, {"did": delivery_id}).first()
            if row is None or row.status != CLAIMED or row.claimed_by != self.owner:
                return None  # erased meanwhile, or no longer ours (lease expired): leave it
            if not row.active or row.confirmed_at is None:
                conn.execute(
                    update(Delivery).where(Delivery.id == delivery_id)
                    .values(status=SKIPPED, claimed_by=None, updated_at=utcnow())
                )
                skipped = True
            else:
                skipped = False
        if skipped:
            self.outcome.skipped += 1
            self.progress(SKIPPED)
            return None
        # The address changed since the batch was claimed: try once more with the new one.
        params = {"did": delivery_id, "owner": self.owner, "key": row.email_key, "now": utcnow()}
        with self._write() as conn:
            taken = conn.execute(ledger.MARK_SENDING, params).rowcount
        return (row.user_id, row.email, row.email_key) if taken == 1 else None

    def _renew_lease(self, conn: Connection) -> None:
        if time.monotonic() - self._renewed > self.options.lease / 4:
            conn.execute(
                update(Delivery).where(Delivery.claimed_by == self.owner, Delivery.status == CLAIMED)
                .values(claimed_at=utcnow())
            )
            self._renewed = time.monotonic()

    def _send_one(self, conn: mail.Sender, delivery_id: int, user_id: int, email: str, key: str) -> None:
        url = f"{self.base_url}/newsletter/unsubscribe/{unsubscribe_token(user_id, key)}"
        message = self.messages.build(email, url)
        try:
            host = getattr(conn, "host", None)
            if isinstance(message, PreparedMessage) and host is not None:
                # Already ASCII-only and CRLF-terminated: skip Flask-Mail's per-message checks.
                host.sendmail(message.sender, [email], message.as_bytes())
            else:
                conn.send(message)
        except smtplib.SMTPRecipientsRefused as error:
            self._rejected(delivery_id, _describe(error))
            return
        except smtplib.SMTPResponseException as error:
            if isinstance(error, smtplib.SMTPSenderRefused) or error.smtp_code == 421:
                self._not_accepted(delivery_id, _describe(error))
                raise _ConnectionLost() from error
            self._rejected(delivery_id, _describe(error))
            return
        except (smtplib.SMTPException, OSError) as error:  # TimeoutError is an OSError
            self.connection_failed(delivery_id, error)
        self.accepted(delivery_id)

    def connection_failed(self, delivery_id: int, error: BaseException) -> NoReturn:
        """The connection broke during a handover; the batch stops here."""
        if isinstance(error, TimeoutError):
            # The server may have taken the message and been slow to say so: do not guess.
            self._finish(delivery_id, status=UNCERTAIN, last_error=_describe(error))
            self.outcome.uncertain += 1
            self.progress(UNCERTAIN)
        else:
            # No "250" for this message: the server has not taken responsibility for it.
            self._not_accepted(delivery_id, _describe(error))
        raise _ConnectionLost() from error

    def accepted(self, delivery_id: int) -> None:
        """The server took it: "sent" is committed with the next transaction (see _write)."""
        self._unmarked = delivery_id
        self._failures = 0
        self.outcome.sent += 1
        self.progress(SENT)

    def _finish(self, delivery_id: int, **values) -> None:  # type: ignore[no-untyped-def]
        values.setdefault("claimed_by", None)
        values.setdefault("updated_at", utcnow())
        with self._write() as conn:
            conn.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))

    def _rejected(self, delivery_id: int, error: str) -> None:
        with self._write() as conn:
            attempts = conn.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id)) or 0
            final = attempts >= self.options.max_attempts
            retry_at = None if final else utcnow() + timedelta(seconds=self.options.retry_delay)
            conn.execute(
                update(Delivery).where(Delivery.id == delivery_id)
                .values(status=FAILED if final else PENDING, last_error=error, next_attempt_at=retry_at,
                        claimed_by=None, updated_at=utcnow())
            )
        if final:
            self.outcome.failed += 1
            self.progress(FAILED)
        else:
            self.outcome.rejected += 1

    def _not_accepted(self, delivery_id: int, error: str) -> None:
        # A connection problem is not the recipient's fault: it does not use up an attempt.
        self._finish(delivery_id, status=PENDING, attempts=Delivery.attempts - 1, last_error=error)

    def _release(self, ids: list[int]) -> None:
        if ids:
            self._update(Delivery.id.in_(ids), Delivery.claimed_by == self.owner, Delivery.status == CLAIMED,
                         status=PENDING, claimed_by=None, claimed_at=None)

    def release_own(self) -> None:
        """On any exit: unsent claims go back; a message interrupted mid-handover is uncertain."""
        db.session.rollback()
        try:
            self._flush_sent()
        except Exception:  # the database itself failed: the row stays "sending" -> uncertain
            db.session.rollback()
        self.pool.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._autocommit is not None:
            self._autocommit.close()
            self._autocommit = None
        self._update(Delivery.claimed_by == self.owner, Delivery.status == CLAIMED,
                     status=PENDING, claimed_by=None, claimed_at=None)
        self._update(Delivery.claimed_by == self.owner, Delivery.status == SENDING,
                     status=UNCERTAIN, claimed_by=None, last_error="interrupted while handing the message to SMTP")

    def _throttle(self) -> None:
        if not self.options.rate:
            return
        now = time.monotonic()
        if self._next_slot > now:
            self._flush_sent()  # "sent" is recorded at once, not after the pause
            time.sleep(self._next_slot - now)
        self._next_slot = max(self._next_slot, now) + 1.0 / self.options.rate

    def _maybe_finish(self) -> None:
        _begin_write()  # read-then-write: on SQLite take the write lock first
        open_rows = db.session.scalar(
            select(func.count()).select_from(Delivery)
            .where(Delivery.issue_id == self.issue_id, Delivery.status.in_((PENDING, CLAIMED, SENDING)))
        )
        if not open_rows:
            db.session.execute(
                update(Issue).where(Issue.id == self.issue_id, Issue.finished_at.is_(None)).values(finished_at=utcnow())
            )
        db.session.commit()
