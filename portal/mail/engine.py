"""The delivery engine: claims due rows of the ledger and hands each message over at most once.

Per message: mark the row "sending" (committed) -> hand it to the server -> record what the server
said. "sent" is committed with the next message's "sending" mark, so each message costs one commit,
and that commit runs on a helper thread while MAIL FROM and RCPT TO are under way (nothing is
handed over before the end of DATA, and DATA starts only once the mark is durable).

Rows are owned by a claim owner with a lease, so any number of engines — a thread in every web
process, ``flask mail deliver`` units, ``flask newsletter send`` — on any number of hosts share
the work: a live owner's rows are never mistaken for a dead one's; PostgreSQL claims with
``SKIP LOCKED``, SQLite serialises claims with its write lock.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Connection

from portal.db import utcnow
from portal.extensions import db
from portal.mail import dkim_signing, feedback, kinds, ledger, pacing, returnpath, suppression, transport
from portal.mail.feedback_models import HARD_BOUNCE
from portal.mail.kinds import Prepared, Skip
from portal.mail.models import CLAIMED, FAILED, PENDING, SENDING, SENT, SKIPPED, UNCERTAIN, VOID, Delivery

log = logging.getLogger("portal.mail")


class Paused(RuntimeError):
    """Too many consecutive connection failures: the mail server looks down. Nothing is lost."""


@dataclass
class Options:
    issue_id: int | None = None  # only this newsletter issue's copies (flask newsletter send)
    batch_size: int = 100
    lease: float = 300.0  # seconds a claim stays valid without renewal
    rate: float | None = None  # messages per second for this engine (on top of MAIL_RATE)
    max_failures: int | None = None  # consecutive connection failures before Paused (None: return)
    failure_delay: float = 1.0  # back-off unit between reconnection attempts
    sweep_decoys: bool = False  # also delete the decoy rows of requests for unknown addresses


@dataclass
class Outcome:
    sent: int = 0
    skipped: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def handled(self) -> int:
        return self.sent + self.skipped + self.retrying + self.failed + self.uncertain


def backoff(attempts: int, base: float, ceiling: float) -> float:
    """Exponential, with ±25 % jitter so that a crowd of deferred messages does not return at once."""
    delay = min(ceiling, base * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.75, 1.25)


class Engine:
    def __init__(self, app: Flask, options: Options | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.options = options or Options()
        self.progress = progress or (lambda outcome: None)
        config = app.config
        self.sender = str(config["BOUNCE_ADDRESS"] or config["MAIL_ENVELOPE_SENDER"])
        # With BOUNCE_ADDRESS, each delivery's own tagged return path (VERP, portal.mail.returnpath).
        self.return_paths = returnpath.ReturnPaths(str(config["SECRET_KEY"]), config.get("BOUNCE_ADDRESS"))
        # DKIM_* set: every message is signed right before the handover (key parsed once, cached).
        self.signer = dkim_signing.signer_for(config)
        self.retry_base = float(config["MAIL_RETRY_BASE"])
        self.retry_ceiling = float(config["MAIL_RETRY_MAX_DELAY"])
        self.owner = ledger.make_owner()
        self.outcome = Outcome()
        self.pace = pacing.Pace(app, self.options.rate)
        # Accepted by the server, "sent" not yet committed: (id, reply). Usually one; two when a
        # message marked ahead finished before the next mark could carry the previous "sent".
        self._unmarked: list[tuple[int, str]] = []
        self._inflight: Future[bool] | None = None  # a mark running on the helper thread
        self._conn: Connection | None = None
        self._autocommit: Connection | None = None
        self._renewed = time.monotonic()
        self._failures = 0
        self._pool: ThreadPoolExecutor | None = None
        self._halted = False
        self._began = utcnow()
        self.unbuildable: set[int] = set()
        self.stopping = threading.Event()  # set from outside (a signal, shutdown): finish the message, stop

    # --- the run -------------------------------------------------------------------------------

    def run(self) -> Outcome:
        """Deliver everything that is due now, then return (the caller decides about later).

        New messages queued meanwhile are taken too (a confirmation must not wait for the end of
        a long newsletter run), but a retry is taken only if it was due when the run began: a
        server that keeps answering 4xx ends the run instead of keeping it busy forever."""
        self._began = utcnow()
        ledger.forget({self.owner})  # running again: its claims are its own once more
        self._open()
        try:
            self.recover_stale()
            if self.options.sweep_decoys:
                self.discard_decoys()
            self._halted = False
            while not self.stopping.is_set() and not self._halted:
                rows = self.claim()
                if not rows:
                    break
                self.deliver(rows)
        finally:
            self._close()
        return self.outcome

    def _open(self) -> None:
        db.session.rollback()
        engine = db.engine
        # The engine's own connection (Core: this runs once per message). SQLite: BEGIN IMMEDIATE
        # (see portal.db.begin_write) and a durable commit: exactly-once rests on "sending" surviving
        # a power cut, which synchronous=NORMAL does not promise in WAL mode.
        self._conn = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        if engine.dialect.name == "sqlite":
            # On the DBAPI connection, before SQLAlchemy opens a transaction (SQLite refuses the
            # pragma inside one); set back in _close, as the connection returns to the pool.
            self._conn.connection.dbapi_connection.execute("PRAGMA synchronous=FULL")  # type: ignore[union-attr]
        if engine.dialect.name == "postgresql":
            self._autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        guards = kinds.guards(self.app)
        self._mark_sending = ledger.mark_sending(guards)
        self._mark_sent_then_sending = ledger.mark_sent_then_sending(guards)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-db")

    def synchronous_level(self) -> int:
        """SQLite's synchronous level on the engine's own connection (2 = FULL), for the operator
        checking durability; 0 elsewhere."""
        if self._conn is None or self._conn.dialect.name != "sqlite":
            return 0
        return int(self._conn.connection.dbapi_connection.execute("PRAGMA synchronous").fetchone()[0])  # type: ignore[union-attr]

    def _close(self) -> None:
        try:
            self._flush_sent()
        except Exception:  # the database itself failed: the row stays "sending" -> uncertain later
            log.exception("Could not record a delivered message as sent")
        try:
            self._release_own()
        except Exception:
            ledger.abandon(self.owner)
            log.exception("Could not release this engine's claims; the next run in this process frees them")
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._conn is not None and self._conn.dialect.name == "sqlite":
            self._conn.rollback()
            self._conn.connection.dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # type: ignore[union-attr]
        for conn in (self._conn, self._autocommit):
            if conn is not None:
                conn.close()
        self._conn = self._autocommit = None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction on the engine's connection (main thread); it also commits the
        previous message's "sent". A mark still running on the helper thread finishes first: the
        two must never share the connection at once."""
        assert self._conn is not None, "opened in run()"
        self._settle()
        with self._conn.begin():
            for did, reply in self._unmarked:
                self._conn.execute(ledger.MARK_SENT, {"did": did, "now": utcnow(), "reply": reply})
            yield self._conn
        self._unmarked = []

    def _settle(self) -> None:
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.exception()  # wait; its own outcome is read by whoever submitted it

    def _flush_sent(self) -> None:
        if self._unmarked:
            with self._write():
                pass

    def _scope(self) -> tuple[Any, ...]:
        issue_id = self.options.issue_id
        return () if issue_id is None else (Delivery.issue_id == issue_id,)

    # --- claims ----------------------------------------------------------------------------------

    def claim(self) -> list[Any]:
        now = utcnow()
        query = (
            select(Delivery.id)
            .where(Delivery.status == PENDING, Delivery.next_attempt_at <= now, *self._scope())
            .where(or_(Delivery.attempts == 0, Delivery.next_attempt_at <= self._began))
            .order_by(Delivery.priority, Delivery.next_attempt_at, Delivery.id)
            .limit(self._batch_size())
        )
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(conn.scalars(query))
            if ids:
                conn.execute(
                    update(Delivery).where(Delivery.id.in_(ids))
                    .values(status=CLAIMED, claimed_by=self.owner, claimed_at=now, updated_at=now)
                )
        self._renewed = time.monotonic()
        if not ids:
            return []
        assert self._conn is not None
        with self._conn.begin():
            return list(self._conn.execute(ledger.CLAIMED_ROWS, {"ids": ids}).all())

    def _batch_size(self) -> int:
        size = self.options.batch_size
        rate = self.pace.rate
        if rate:
            # A throttled batch should not outlive a fraction of its lease.
            size = min(size, max(1, int(rate * self.options.lease / 10)))
        return size

    def recover_stale(self) -> int:
        """Rows of a dead owner (same host, process gone) or with an expired lease: "claimed" ones
        go back to pending (never handed over); "sending" ones become uncertain."""
        assert self._conn is not None
        abandoned = ledger.abandoned()
        with self._conn.begin():
            owners = list(self._conn.scalars(
                select(Delivery.claimed_by).distinct()
                .where(Delivery.status.in_((CLAIMED, SENDING)), Delivery.claimed_by != self.owner)
            ))
        if not owners:
            ledger.forget(abandoned)
            return 0
        dead = [o for o in owners if o and (o in abandoned or ledger.owner_is_dead(o))]
        expired = utcnow() - timedelta(seconds=self.options.lease)
        stale = (Delivery.claimed_by != self.owner, or_(Delivery.claimed_by.in_(dead), Delivery.claimed_at < expired))
        with self._write() as conn:
            freed = conn.execute(
                update(Delivery).where(Delivery.status == CLAIMED, *stale)
                .values(status=PENDING, claimed_by=None, claimed_at=None, updated_at=utcnow())
            ).rowcount or 0
            lost = conn.execute(
                update(Delivery).where(Delivery.status == SENDING, *stale)
                .values(status=UNCERTAIN, claimed_by=None, updated_at=utcnow(),
                        last_error="the worker stopped while handing the message over; it may have arrived")
            ).rowcount or 0
        ledger.forget(abandoned)
        if lost:
            log.warning("%d message(s) were being handed over by a worker that stopped: now uncertain", lost)
        return freed + lost

    def _release(self, ids: list[int]) -> None:
        if ids:
            with self._write() as conn:
                conn.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(ids), Delivery.claimed_by == self.owner, Delivery.status == CLAIMED)
                    .values(status=PENDING, claimed_by=None, claimed_at=None, updated_at=utcnow())
                )

    def _release_own(self) -> None:
        """On any exit: unsent claims go back; a message interrupted mid-handover is uncertain."""
        with self._write() as conn:
            mine = Delivery.claimed_by == self.owner
            conn.execute(update(Delivery).where(mine, Delivery.status == CLAIMED)
                         .values(status=PENDING, claimed_by=None, claimed_at=None, updated_at=utcnow()))
            lost = conn.execute(
                update(Delivery).where(mine, Delivery.status == SENDING)
                .values(status=UNCERTAIN, claimed_by=None, updated_at=utcnow(),
                        last_error="interrupted while handing the message over; it may have arrived")
            ).rowcount
        if lost:
            self.outcome.uncertain += lost
            self.progress(UNCERTAIN)

    def _renew_lease(self, conn: Connection) -> None:
        if time.monotonic() - self._renewed > self.options.lease / 4:
            conn.execute(update(Delivery).where(Delivery.claimed_by == self.owner, Delivery.status == CLAIMED)
                         .values(claimed_at=utcnow()))
            self._renewed = time.monotonic()

    def discard_decoys(self) -> int:
        with self._write() as conn:
            return conn.execute(delete(Delivery).where(Delivery.status == VOID)).rowcount or 0

    # --- one batch over one connection -----------------------------------------------------------

    def deliver(self, rows: list[Any]) -> None:
        prepared = self._prepare(rows)
        remaining = [row.id for row in rows if row.id not in self.unbuildable]
        by_id = {row.id: row for row in rows}
        wire = self._transport()
        problem = wire.connect()
        if problem is not None:
            self._connection_failed(remaining, by_id, problem)
            return
        ahead: tuple[int, Future[bool]] | None = None  # the next message, its mark already submitted
        try:
            while remaining and not self.stopping.is_set():
                if not self.pace.wait(self._flush_sent):
                    break
                did = remaining.pop(0)
                item = prepared.get(did)
                if item is None:
                    self._finish(did, SKIPPED, "no longer wanted (unsubscribed, unconfirmed or erased)")
                    continue
                if isinstance(item, Skip):
                    self._finish(did, SKIPPED, item.reason)
                    continue
                marked = ahead[1] if ahead is not None and ahead[0] == did else self._submit_mark(did, item)
                ahead = None

                def look_ahead() -> None:
                    # Called once this message's own mark is durable, right before its DATA: the
                    # next message's "sending" commit then runs while DATA is on the wire.
                    nonlocal ahead
                    following = prepared.get(remaining[0]) if remaining else None
                    if isinstance(following, Prepared) and self.pace.ready():
                        ahead = (remaining[0], self._submit_mark(remaining[0], following))

                attempt = self._hand_over(wire, did, item, marked, look_ahead)
                if attempt.connection_lost and ahead is not None:
                    self._unmark(*ahead)
                    ahead = None
                self._record(did, by_id[did], attempt)
                if (attempt.result == transport.FAILED and attempt.recipient_refused
                        and feedback.is_address_failure(attempt.reply)):
                    self._refused_for_good(did, item, attempt)
                if attempt.connection_lost:
                    break
                if time.monotonic() - self._renewed > self.options.lease / 4:
                    with self._write() as conn:
                        self._renew_lease(conn)
            if ahead is not None:
                self._unmark(*ahead)
            self._flush_sent()
        finally:
            self._settle()
            wire.close()
            self._release(remaining)
        if remaining and not self.stopping.is_set():
            self._count_failure(problem=None)

    def _transport(self) -> Any:
        config = self.app.config
        if not config.get("MAIL_SERVER"):
            return transport.FolderTransport(self.app.config["MAIL_OUTBOX_FOLDER"], not config["PRODUCTION"])
        return transport.SMTPTransport(transport.SMTPSettings(
            host=str(config["MAIL_SERVER"]), port=int(config["MAIL_PORT"]), timeout=float(config["MAIL_TIMEOUT"]),
            use_ssl=bool(config["MAIL_USE_SSL"]), use_tls=bool(config["MAIL_USE_TLS"]),
            username=config.get("MAIL_USERNAME"), password=config.get("MAIL_PASSWORD"),
            local_hostname=config.get("MAIL_HELO_NAME"),
        ))

    def _prepare(self, rows: list[Any]) -> dict[int, Prepared | Skip]:
        ready: dict[int, Prepared | Skip] = {}
        built: dict[str, list[Any]] = {}
        for row in rows:
            if row.raw is not None and row.to_addr:
                ready[row.id] = Prepared(row.to_addr, row.raw, row.message_id or "", bool(row.smtputf8))
            else:
                built.setdefault(row.kind, []).append(row)
        for name, group in built.items():
            kind = kinds.get(name, self.app)
            if kind is None or kind.prepare is None:
                # Another version of the portal queued it (a rolling upgrade): leave it to that one,
                # or to this one once it knows the kind, instead of calling it unwanted.
                log.error("No way to build messages of kind %r here: %d left queued", name, len(group))
                self._postpone([row.id for row in group])
                continue
            with self.app.app_context():
                ready.update(kind.prepare(group))
        self._skip_suppressed(rows, ready)
        return ready

    def _postpone(self, ids: list[int], seconds: float = 60.0) -> None:
        with self._write() as conn:
            conn.execute(
                update(Delivery).where(Delivery.id.in_(ids), Delivery.claimed_by == self.owner)
                .values(status=PENDING, claimed_by=None, claimed_at=None, updated_at=utcnow(),
                        next_attempt_at=utcnow() + timedelta(seconds=seconds))
            )
        self.unbuildable.update(ids)

    def _submit_mark(self, did: int, item: Prepared) -> Future[bool]:
        """claimed -> sending on the helper thread, carrying the previous message's "sent"."""
        assert self._pool is not None
        self._settle()
        prev, self._unmarked = self._unmarked, []
        self._inflight = future = self._pool.submit(self._mark, did, item, prev)
        return future

    def _skip_suppressed(self, rows: list[Any], ready: dict[int, Prepared | Skip]) -> None:
        """Bulk mail (the newsletter) never goes to a suppressed address, whatever the
        subscription says; other kinds (a password reset the person asked for) still go out."""
        bulk = [row.id for row in rows if isinstance(ready.get(row.id), Prepared)
                and (kind := kinds.get(row.kind, self.app)) is not None and kind.bulk]
        if not bulk:
            return
        with self.app.app_context():
            found = suppression.suppressed_among(ready[did].recipient for did in bulk)  # type: ignore[union-attr]
            db.session.rollback()
        for did in bulk:
            reason = found.get(suppression.normalise(ready[did].recipient))  # type: ignore[union-attr]
            if reason is not None:
                ready[did] = Skip(f"suppressed ({reason}): this address gets no bulk mail")

    def _refused_for_good(self, did: int, item: Prepared, attempt: transport.Attempt) -> None:
        """A 5xx for the recipient is a hard bounce: recorded, and the address suppressed."""
        try:
            with self.app.app_context():
                feedback.apply(feedback.Report(HARD_BOUNCE, "smtp", address=item.recipient, delivery_id=did,
                                               detail=attempt.reply))
                db.session.commit()
        except Exception:  # the message's own outcome is already recorded; this is the extra
            log.exception("Could not record the permanent refusal of delivery %d as a bounce", did)

    def _hand_over(self, wire: Any, did: int, item: Prepared, marked: Future[bool],
                   before_data: Callable[[], None]) -> transport.Attempt:
        sender = self.return_paths.envelope_sender(did) or self.sender
        try:
            # Signed while the helper thread commits the mark: the RSA work overlaps its I/O.
            raw = item.raw if self.signer is None else self.signer.sign(item.raw)
            envelope = transport.Envelope(sender, item.recipient, raw, item.smtputf8)
            return wire.deliver(envelope, marked.result, before_data)
        except Exception as error:  # a fault of ours, not the server's: never leave the row mid-mark
            marked.exception()  # wait for the commit on the helper thread
            log.exception("Unexpected error handing over delivery %d", did)
            wire.close()
            return transport.Attempt(transport.RETRY, transport.describe_error(error), connection_lost=True)

    def _mark(self, did: int, item: Prepared, prev: list[tuple[int, str]]) -> bool:
        now = utcnow()
        params: dict[str, Any] = {"did": did, "owner": self.owner, "key": item.key, "now": now,
                                  "mid": item.message_id or None}
        earlier = [{"did": d, "now": now, "reply": r} for d, r in prev]
        if self._autocommit is not None:
            last = earlier.pop() if earlier else {"did": None, "reply": None}
            for one in earlier:  # rare: each is a durable statement of its own
                self._autocommit.execute(ledger.MARK_SENT, one)
            params["prev"], params["prev_reply"] = last["did"], last["reply"]
            return len(self._autocommit.execute(self._mark_sent_then_sending, params).all()) == 1
        assert self._conn is not None
        with self._conn.begin():
            for one in earlier:
                self._conn.execute(ledger.MARK_SENT, one)
            return bool(self._conn.execute(self._mark_sending, params).rowcount == 1)

    def _unmark(self, did: int, marked: Future[bool]) -> None:
        """A message marked ahead whose turn did not come (the connection broke): nothing was
        handed over, so it goes back to "claimed" (and to the queue with the rest), not to uncertain."""
        if not marked.result():
            return
        with self._write() as conn:
            conn.execute(update(Delivery).where(Delivery.id == did, Delivery.status == SENDING,
                                                Delivery.claimed_by == self.owner)
                         .values(status=CLAIMED, attempts=Delivery.attempts - 1))

    # --- what became of it -------------------------------------------------------------------------

    def _record(self, did: int, row: Any, attempt: transport.Attempt) -> None:
        result = attempt.result
        self.pace.observe(attempt)
        if result == transport.SENT:
            self._unmarked.append((did, attempt.reply[:500]))
            self._failures = 0
            self._count(SENT)
        elif result == transport.NOT_WANTED:
            self._skip_if_unwanted(did)
        elif result == transport.FAILED:
            self._finish(did, FAILED, attempt.reply)
        elif result == transport.UNCERTAIN:
            self._finish(did, UNCERTAIN, attempt.reply)
            log.warning("Delivery %d is uncertain (%s): not resent unless an operator asks", did, attempt.reply)
        else:
            self._retry_later(did, row, attempt.reply)

    def _count(self, status: str) -> None:
        name = _OUTCOME_FIELD[status]
        setattr(self.outcome, name, getattr(self.outcome, name) + 1)
        self.progress(status)

    def _finish(self, did: int, status: str, error: str | None, **values: Any) -> None:
        with self._write() as conn:
            conn.execute(update(Delivery).where(Delivery.id == did).values(
                status=status, last_error=error[:500] if error else None, claimed_by=None, updated_at=utcnow(),
                **values))
        self._count(status)

    def _skip_if_unwanted(self, did: int) -> None:
        """The mark did not take: skipped if it is still ours (not wanted any more), else left alone
        (erased meanwhile, or the lease expired and another worker has it)."""
        with self._write() as conn:
            taken = conn.execute(
                update(Delivery).where(Delivery.id == did, Delivery.status == CLAIMED,
                                       Delivery.claimed_by == self.owner)
                .values(status=SKIPPED, claimed_by=None, updated_at=utcnow(),
                        last_error="no longer wanted (unsubscribed, unconfirmed or address changed)")
            ).rowcount
        if taken:
            self._count(SKIPPED)

    def _retry_later(self, did: int, row: Any, reply: str, count_attempt: bool = False) -> None:
        now = utcnow()
        attempts = int(row.attempts) + 1
        expires: datetime = row.expires_at
        if now >= expires:
            self._finish(did, FAILED, f"gave up after {attempts} attempt(s) over "
                         f"{_span(now - (expires - timedelta(seconds=float(self.app.config['MAIL_RETRY_FOR']))))}"
                         f"; last answer: {reply}")
            return
        delay = backoff(attempts, self.retry_base, self.retry_ceiling)
        values: dict[str, Any] = {"next_attempt_at": now + timedelta(seconds=delay)}
        if count_attempt:
            values["attempts"] = Delivery.attempts + 1
        self._finish(did, PENDING, reply, **values)

    def _connection_failed(self, ids: list[int], by_id: dict[int, Any], problem: transport.Attempt) -> None:
        """The server could not be reached: every claimed message counts an attempt and waits."""
        self.pace.observe(problem)
        for did in ids:
            self._retry_later(did, by_id[did], problem.reply, count_attempt=True)
        self._count_failure(problem)

    def _count_failure(self, problem: transport.Attempt | None) -> None:
        self._failures += 1
        limit = self.options.max_failures
        last = problem.reply if problem is not None else "connection lost"
        if limit is not None and self._failures >= limit:
            raise Paused(f"Paused: {self._failures} consecutive failures talking to the mail server (last: {last}). "
                         "Nothing was lost: the messages wait and are retried; run the same command again to resume.")
        if limit is None:
            # A background worker: end this run and let its loop wait, instead of hammering a
            # server that is down.
            self._halted = True
            return
        self.stopping.wait(min(30.0, self.options.failure_delay * self._failures))


_OUTCOME_FIELD = {SENT: "sent", SKIPPED: "skipped", FAILED: "failed", UNCERTAIN: "uncertain", PENDING: "retrying"}


def _span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds} s"


def next_due(issue_id: int | None = None) -> datetime | None:
    """When the earliest waiting message becomes due (None: nothing waits)."""
    query = select(func.min(Delivery.next_attempt_at)).where(Delivery.status == PENDING)
    if issue_id is not None:
        query = query.where(Delivery.issue_id == issue_id)
    value = db.session.scalar(query)
    db.session.rollback()
    return value
