"""The delivery ledger's moving parts: claim owners, SQLite write transactions, and the
statements the sender runs once per message (built once, so the hot loop only binds values)."""

from __future__ import annotations

import os
import secrets
import smtplib
import socket

from sqlalchemy import bindparam, select, update

from portal.accounts.models import User
from portal.db import UTCDateTime
from portal.newsletter.models import CLAIMED, SENDING, SENT, Delivery, Subscription


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


_NOW = bindparam("now", type_=UTCDateTime())

# Still wanted, right now: an active subscription of a confirmed account whose address is the
# one this message is addressed to (a changed address invalidates the prepared link).
_STILL_WANTED = (
    select(Subscription.user_id)
    .join(User, User.id == Subscription.user_id)
    .where(
        Subscription.user_id == Delivery.user_id,
        Subscription.active.is_(True),
        User.confirmed_at.is_not(None),
        User.email_key == bindparam("key"),
    )
    .exists()
)

MARK_SENDING = (
    update(Delivery)
    .where(
        Delivery.id == bindparam("did"),
        Delivery.claimed_by == bindparam("owner"),
        Delivery.status == CLAIMED,
        _STILL_WANTED,
    )
    .values(status=SENDING, attempts=Delivery.attempts + 1, claimed_at=_NOW, updated_at=_NOW)
)

MARK_SENT = (
    update(Delivery)
    .where(Delivery.id == bindparam("did"), Delivery.status == SENDING)
    .values(status=SENT, sent_at=_NOW, claimed_by=None, last_error=None, updated_at=_NOW)
)

# PostgreSQL: the previous message's "sent" and this one's "sending" in ONE autocommit statement
# (a data-modifying CTE): atomic and durable when it returns, one round trip instead of four.
_SENT_BEFORE = (
    update(Delivery)
    .where(Delivery.id == bindparam("prev"), Delivery.status == SENDING)
    .values(status=SENT, sent_at=_NOW, claimed_by=None, last_error=None, updated_at=_NOW)
    .returning(Delivery.id)
    .cte("sent_before")
)
MARK_SENT_THEN_SENDING = MARK_SENDING.add_cte(_SENT_BEFORE).returning(Delivery.id)

RECIPIENTS = (
    select(Delivery.id, User.id, User.email, User.email_key)
    .join(User, User.id == Delivery.user_id)
    .where(Delivery.id.in_(bindparam("ids", expanding=True)))
)

WHY_NOT = (
    select(Delivery.status, Delivery.claimed_by, Delivery.user_id, User.email, User.email_key, User.confirmed_at,
           Subscription.active)
    .select_from(Delivery)
    .join(User, User.id == Delivery.user_id)
    .outerjoin(Subscription, Subscription.user_id == Delivery.user_id)
    .where(Delivery.id == bindparam("did"))
)


def describe(error: BaseException) -> str:
    """The server's answer for the ledger and the status report (never message content)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        parts = [f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                 for code, msg in error.recipients.values()]
        return ("rejected: " + "; ".join(parts))[:500]
    if isinstance(error, smtplib.SMTPResponseException):
        msg = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"{error.smtp_code} {msg}"[:500]
    return f"{type(error).__name__}: {error}"[:500]
