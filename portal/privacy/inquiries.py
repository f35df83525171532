"""Inquiries and violation reports: intake, the one-month deadline, answering, retention.

Plain functions (no HTTP) so the views, the CLI and the tests share them.
"""

from __future__ import annotations

import calendar
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, func, or_, select

from portal import i18n, mail
from portal.addresses import AddressError, email_key, normalise_email
from portal.db import affected, utcnow, write_transaction
from portal.extensions import db
from portal.links import external_url
from portal.privacy.models import TOPICS, Inquiry
from portal.translate import gettext as _
from portal.translate import lazy_gettext as _l

log = logging.getLogger("portal.privacy")

MAX_MESSAGE_LENGTH = 5000
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone


class InquiryError(ValueError):
    """Input the sender can fix; the message is safe to show."""


def one_month_later(moment: datetime) -> datetime:
    """The same local day and time next month (clamped to the month's end), in UTC.

    GDPR Art. 12(3) counts "one month" on the calendar, so 31 January is due on 28/29 February.
    """
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    local = moment.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(moment.tzinfo)


def new_reference() -> str:
    while True:  # 32**8 values: a clash is rare, but the unique column must never raise
        reference = "DP-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
        if find(reference) is None:
            return reference


def clean_message(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InquiryError(_("Please write your message."))
    text = raw.replace("\r\n", "\n").strip()
    if "\x00" in text:
        raise InquiryError(_("The message contains characters we cannot store."))
    if len(text) > MAX_MESSAGE_LENGTH:
        raise InquiryError(_("Please keep the message under %(num)d characters.", num=MAX_MESSAGE_LENGTH))
    return text


def submit(raw_email: str, topic: str, raw_message: str, user: Any = None) -> Inquiry:
    """Store an inquiry, tell the DPO and acknowledge it to the sender."""
    try:
        address = normalise_email(raw_email)
    except AddressError as error:
        raise InquiryError(str(error)) from None
    if topic not in TOPICS:
        raise InquiryError(_("Please choose a topic from the list."))
    text = clean_message(raw_message)
    now = utcnow()
    # SQLite: concurrent submissions queue instead of failing with "database is locked"
    with write_transaction():
        inquiry = Inquiry(
            reference=new_reference(),
            created_at=now,
            due_at=one_month_later(now),
            topic=topic,
            email=address,
            email_key=email_key(address),
            message=text,
            user_id=getattr(user, "id", None),
        )
        db.session.add(inquiry)
        db.session.flush()
        # The case and both its emails are committed together: a mail outage delays them, never
        # loses them, and a request with a legal deadline is never acknowledged without its notice.
        inquiry.dpo_notified = _notify_dpo(inquiry)
        _acknowledge(inquiry)
    return inquiry


def _notify_dpo(inquiry: Inquiry) -> bool:
    dpo = current_app.config.get("DPO_EMAIL")
    if not dpo:
        log.warning("Inquiry %s stored but DPO_EMAIL is not set: nobody was notified", inquiry.reference)
        return False
    # The desk's language is the portal's default, whatever the sender's.
    with i18n.language_of(language=current_app.config["DEFAULT_LANGUAGE"]):
        due = _date(inquiry.due_at)
        subject = _("[%(reference)s] Data-protection inquiry: %(topic)s (due %(due)s)", reference=inquiry.reference,
                    topic=inquiry.topic_label, due=due)
    mail.enqueue(
        str(dpo),
        subject,
        "inquiry_received",
        kind="privacy.dpo",
        language=current_app.config["DEFAULT_LANGUAGE"],
        reply_to=inquiry.email or None,
        inquiry=inquiry,
        due=due,
        admin_url=external_url("staff_desk.case", reference=inquiry.reference),
    )
    return True


def _acknowledge(inquiry: Inquiry) -> None:
    # The sender's own text is not echoed back: the form must not relay content to third parties.
    mail.enqueue(
        inquiry.email or "",
        _l("We received your data-protection inquiry %(reference)s", reference=inquiry.reference),
        "inquiry_ack",
        kind="privacy.ack",
        user_id=inquiry.user_id,
        inquiry=inquiry,
        due=_date(inquiry.due_at),
        contact_url=external_url("privacy.contact"),
    )


def _date(value: datetime) -> str:
    return i18n.localtime(value, "date")


def open_inquiries() -> list[Inquiry]:
    return list(db.session.scalars(select(Inquiry).where(Inquiry.status == "open").order_by(Inquiry.due_at)))


def recent_answered(limit: int = 20) -> list[Inquiry]:
    return list(
        db.session.scalars(
            select(Inquiry).where(Inquiry.status == "answered").order_by(Inquiry.answered_at.desc()).limit(limit)
        )
    )


def find(reference: str) -> Inquiry | None:
    if not isinstance(reference, str) or len(reference) > 24 or "\x00" in reference:
        return None  # NUL: PostgreSQL refuses it in a query, and no reference has one
    return db.session.scalar(select(Inquiry).where(Inquiry.reference == reference.strip().upper()))


def mark_answered(reference: str) -> Inquiry:
    with write_transaction():
        inquiry = find(reference)
        if inquiry is None:
            raise InquiryError(_("No inquiry with reference %(reference)s.", reference=repr(reference)))
        if inquiry.status == "answered":
            raise InquiryError(_("Inquiry %(reference)s is already answered.", reference=inquiry.reference))
        inquiry.status = "answered"
        inquiry.answered_at = utcnow()
        if inquiry.redact_on_close:
            _redact(inquiry)
    return inquiry


def _redact(inquiry: Inquiry) -> None:
    inquiry.email = None
    inquiry.email_key = None
    inquiry.message = ""
    inquiry.user_id = None
    inquiry.redacted_at = utcnow()


# --- personal data: export, erasure, retention -------------------------------------------------


def _of_user(user: Any) -> Any:
    if getattr(user, "confirmed_at", None) is None:
        # An unconfirmed signup never proved it owns the address (anyone can type someone
        # else's): purging it must not touch that person's inquiries. Only a link counts.
        return Inquiry.user_id == user.id
    return or_(Inquiry.user_id == user.id, Inquiry.email_key == user.email_key)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export(user: Any) -> dict[str, Any]:
    rows = db.session.scalars(select(Inquiry).where(_of_user(user)).order_by(Inquiry.created_at)).all()
    return {
        "inquiries": [
            {
                "reference": i.reference,
                "created_at": _iso(i.created_at),
                "due_at": _iso(i.due_at),
                "topic": i.topic,
                "email": i.email,
                "message": i.message,
                "status": i.status,
                "answered_at": _iso(i.answered_at),
            }
            for i in rows
        ]
    }


def erase(user: Any) -> None:
    """Closed cases lose address and text now; open ones keep them until answered.

    An open case (often the erasure request itself) still has to be answered within the legal
    deadline, which needs the address; it is unlinked from the account and redacted when closed.
    """
    for inquiry in db.session.scalars(select(Inquiry).where(_of_user(user))):
        if inquiry.is_open:
            inquiry.user_id = None
            inquiry.redact_on_close = True
        else:
            _redact(inquiry)
    db.session.flush()


def purge_answered(now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["INQUIRY_RETENTION_DAYS"])
    statement = delete(Inquiry).where(Inquiry.status == "answered", Inquiry.answered_at < cutoff)
    count = affected(db.session.execute(statement))
    db.session.commit()
    return count


def open_count() -> int:
    return db.session.scalar(select(func.count()).where(Inquiry.status == "open")) or 0


def overdue_count(now: datetime | None = None) -> int:
    late = (Inquiry.status == "open") & (Inquiry.due_at < (now or utcnow()))
    return db.session.scalar(select(func.count()).where(late)) or 0


def unnotified_count() -> int:
    return db.session.scalar(select(func.count()).where(Inquiry.dpo_notified.is_(False))) or 0
