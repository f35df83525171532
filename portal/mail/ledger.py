"""The delivery ledger's moving parts: claim owners and the statements the engine runs once per
message (built once, so the hot loop only binds values)."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Mapping

from sqlalchemy import Update, and_, bindparam, case, null, or_, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from portal.db import UTCDateTime
from portal.mail.models import CLAIMED, SENDING, SENT, Delivery


def _process_start_time(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat: tells a reused pid from the process that made the claim."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return ""
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields and fields[0] == "Z":  # killed but not yet reaped: dead
        return "zombie"
    return fields[19] if len(fields) > 19 else ""


def make_owner() -> str:
    """host:pid:start-time:nonce — the nonce tells apart two senders in one process (threads)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start_time(pid)}:{secrets.token_hex(4)}"


def owner_is_dead(owner: str) -> bool:
    """True only when certain: same host and the process is gone (or its pid was reused).
    Another host's sender is never declared dead here; only its lease can expire."""
    try:
        host, pid_text, started, _nonce = owner.rsplit(":", 3)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    current = _process_start_time(pid)
    return current == "zombie" or (bool(started) and bool(current) and current != started)


# Owners of this process whose run ended without giving back its claims: the database failed at
# that very moment (a restart, a failover). Their process lives on, so owner_is_dead cannot tell;
# the next engine here frees their rows at once instead of leaving them to the lease (minutes).
_abandoned: set[str] = set()
_abandoned_lock = threading.Lock()


def abandon(owner: str) -> None:
    with _abandoned_lock:
        _abandoned.add(owner)


def abandoned() -> set[str]:
    with _abandoned_lock:
        return set(_abandoned)


def forget(owners: set[str]) -> None:
    """Their rows are recovered (or there were none left)."""
    with _abandoned_lock:
        _abandoned.difference_update(owners)


_NOW = bindparam("now", type_=UTCDateTime())

_SENT_VALUES = dict(
    status=SENT, sent_at=_NOW, claimed_by=None, last_error=None, updated_at=_NOW, raw=None,
    to_addr=case((Delivery.forget_address.is_(True), null()), else_=Delivery.to_addr),
)

MARK_SENT = (
    update(Delivery)
    .where(Delivery.id == bindparam("did"), Delivery.status == SENDING)
    .values(**_SENT_VALUES, smtp_reply=bindparam("reply"))
)


def mark_sending(guards: Mapping[str, ColumnElement[bool]]) -> Update:
    """claimed -> sending, if the row is still ours and, for kinds with a guard (the newsletter:
    still subscribed, confirmed, same address), still wanted right now."""
    wanted: ColumnElement[bool] = true()
    if guards:
        # Plain comparisons, not NOT IN: an expanding IN list is recompiled on every execution.
        wanted = or_(
            and_(*(Delivery.kind != kind for kind in guards)),
            *(and_(Delivery.kind == kind, guard) for kind, guard in guards.items()),
        )
    return (
        update(Delivery)
        .where(
            Delivery.id == bindparam("did"),
            Delivery.claimed_by == bindparam("owner"),
            Delivery.status == CLAIMED,
            wanted,
        )
        .values(status=SENDING, attempts=Delivery.attempts + 1, claimed_at=_NOW, updated_at=_NOW,
                message_id=bindparam("mid"))
    )


def mark_sent_then_sending(guards: Mapping[str, ColumnElement[bool]]) -> Update:
    """PostgreSQL: the previous message's "sent" and this one's "sending" in ONE autocommit
    statement (a data-modifying CTE): atomic and durable when it returns, one round trip, not four."""
    sent_before = (
        update(Delivery)
        .where(Delivery.id == bindparam("prev"), Delivery.status == SENDING)
        .values(**_SENT_VALUES, smtp_reply=bindparam("prev_reply"))
        .returning(Delivery.id)
        .cte("sent_before")
    )
    return mark_sending(guards).add_cte(sent_before).returning(Delivery.id)


CLAIMED_ROWS = (
    select(Delivery.id, Delivery.kind, Delivery.user_id, Delivery.issue_id, Delivery.to_addr, Delivery.raw,
           Delivery.smtputf8, Delivery.message_id, Delivery.attempts, Delivery.expires_at)
    .where(Delivery.id.in_(bindparam("ids", expanding=True)))
    .order_by(Delivery.priority, Delivery.next_attempt_at, Delivery.id)
)

__all__ = ["CLAIMED_ROWS", "MARK_SENT", "abandon", "abandoned", "forget", "make_owner", "mark_sending",
           "mark_sent_then_sending", "owner_is_dead"]
