"""One report about one message, applied: the single place SES, inbound mail and the engine meet.

A hard bounce or a complaint suppresses the address at once; a soft bounce is recorded and
suppresses the address once MAIL_SOFT_BOUNCE_LIMIT of them arrived within MAIL_SOFT_BOUNCE_DAYS;
a delivery report marks the ledger row delivered. The caller commits.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select, update

from portal.accounts.models import User
from portal.db import affected, utcnow
from portal.extensions import db
from portal.mail import suppression
from portal.mail.feedback_models import (
    BOUNCE,
    COMPLAINED,
    COMPLAINT,
    DELIVERED,
    HARD_BOUNCE,
    SOFT_BOUNCE,
    Feedback,
    address_hash,
)
from portal.mail.models import Delivery

log = logging.getLogger("portal.mail")


@dataclass(frozen=True)
class Report:
    kind: str  # HARD_BOUNCE, SOFT_BOUNCE, COMPLAINED or DELIVERED
    source: str  # ses, dsn, arf, smtp
    address: str | None = None  # the recipient, when the report itself is trusted (SES, the engine)
    delivery_id: int | None = None  # from a verified return-path tag or our Message-ID
    detail: str = ""


@dataclass(frozen=True)
class Outcome:
    recorded: bool
    suppressed: bool
    summary: str  # for the log line and the command's output: no address in it


def recipient_of(delivery: Delivery) -> str | None:
    """Who a delivery went to: its address, or (newsletter copies keep none) its account's."""
    if delivery.to_addr:
        return delivery.to_addr
    if delivery.user_id is not None:
        return db.session.scalar(select(User.email).where(User.id == delivery.user_id))
    return None


def apply(report: Report) -> Outcome:
    delivery = db.session.get(Delivery, report.delivery_id) if report.delivery_id is not None else None
    address = report.address or (recipient_of(delivery) if delivery is not None else None)
    where = f"delivery {report.delivery_id}" if report.delivery_id is not None else "an unknown delivery"
    if report.kind == DELIVERED:
        if delivery is None:
            return Outcome(False, False, f"delivery report for {where}: nothing to mark")
        db.session.execute(update(Delivery).where(Delivery.id == delivery.id, Delivery.delivered_at.is_(None))
                           .values(delivered_at=utcnow()))
        return Outcome(True, False, f"{where} marked delivered")
    if address is None:
        return Outcome(False, False, f"{report.kind} report for {where} whose recipient is gone (erased): ignored")
    user_id = delivery.user_id if delivery is not None else None
    if user_id is None:
        user_id = db.session.scalar(select(User.id).where(User.email_key == suppression.normalise(address)))
    db.session.add(Feedback(
        kind=report.kind, source=report.source, delivery_id=delivery.id if delivery is not None else None,
        issue_id=delivery.issue_id if delivery is not None else None, user_id=user_id,
        address_hash=address_hash(suppression.normalise(address)), detail=report.detail[:500],
    ))
    db.session.flush()
    reason, why = None, ""
    if report.kind == HARD_BOUNCE:
        reason, why = BOUNCE, f"permanent bounce ({report.source}): {report.detail}"
    elif report.kind == COMPLAINED:
        reason, why = COMPLAINT, f"complaint ({report.source}): {report.detail}"
    elif report.kind == SOFT_BOUNCE:
        count, limit, days = soft_bounce_count(address), *_soft_limits()
        if count >= limit:
            reason, why = BOUNCE, f"{count} temporary bounces in {days} days ({report.source}): {report.detail}"
    else:
        raise ValueError(f"unknown report kind {report.kind!r}")
    suppressed = reason is not None and suppression.suppress(address, reason, report.source, user_id=user_id,
                                                             detail=why)
    tail = "; address suppressed" if suppressed else ""
    return Outcome(True, suppressed, f"{report.kind} for {where} recorded{tail}")


_ENHANCED = re.compile(r"^\s*(\d{3})(?:[ -]+([245])\.(\d{1,3})\.(\d{1,3}))?")


def is_address_failure(reply: str) -> bool:
    """Does a permanent SMTP refusal of RCPT TO say the *address* is bad (and so worth a
    suppression)? 5.1.x (no such address) and 5.2.x (mailbox disabled, full for good) do, and so
    does a bare 550/551/553/554 without an enhanced code. 5.7.x does not: it is policy — relay
    access denied, authentication required, DMARC/DKIM failures, blocklists — i.e. usually our
    own configuration, and suppressing on it would unsubscribe everyone after one mistake."""
    match = _ENHANCED.match(reply or "")
    if match is None:
        return False
    code, klass, subject, detail = match.groups()
    if klass is None:
        return code in ("550", "551", "553", "554")
    return klass == "5" and (subject == "1" or (subject == "2" and detail != "3"))


def _soft_limits() -> tuple[int, int]:
    config = current_app.config
    return int(config["MAIL_SOFT_BOUNCE_LIMIT"]), int(config["MAIL_SOFT_BOUNCE_DAYS"])


def soft_bounce_count(address: str) -> int:
    since = utcnow() - timedelta(days=int(current_app.config["MAIL_SOFT_BOUNCE_DAYS"]))
    return db.session.scalar(
        select(func.count()).select_from(Feedback).where(
            Feedback.address_hash == address_hash(suppression.normalise(address)),
            Feedback.kind == SOFT_BOUNCE, Feedback.at >= since)
    ) or 0


def purge_old() -> int:
    """Reports past MAIL_FEEDBACK_RETENTION_DAYS go (the suppressions they caused stay)."""
    cutoff = utcnow() - timedelta(days=int(current_app.config["MAIL_FEEDBACK_RETENTION_DAYS"]))
    count = affected(db.session.execute(delete(Feedback).where(Feedback.at < cutoff)))
    db.session.commit()
    return count or 0


def issue_rates(issue_id: int) -> dict[str, int]:
    """Per-issue counts of hard bounces, soft bounces and complaints (distinct deliveries)."""
    rows = db.session.execute(
        select(Feedback.kind, func.count(func.distinct(Feedback.delivery_id)))
        .where(Feedback.issue_id == issue_id, Feedback.kind.in_((HARD_BOUNCE, SOFT_BOUNCE, COMPLAINED)))
        .group_by(Feedback.kind)
    ).all()
    return {kind: count for kind, count in rows}
