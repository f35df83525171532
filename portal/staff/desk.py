"""The data-protection desk: inquiries by deadline, assignee and notes, the one extension,
replies by email through the delivery engine, and marking a case answered.

Plain functions (no HTTP). Each change is committed together with its staff audit-log entry and
any message it sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select, update

from portal import mail
from portal.accounts.models import User
from portal.db import utcnow, write_transaction
from portal.extensions import db
from portal.links import external_url
from portal.privacy import inquiries
from portal.privacy.models import Inquiry
from portal.staff import audit_log, deadlines
from portal.staff.models import CaseFile, CaseReply
from portal.translate import gettext as _
from portal.translate import lazy_gettext as _l

MAX_NOTES = 10_000
MAX_REASON = 2_000
MAX_SUBJECT = 200
MAX_BODY = 20_000
REPLY_KIND = "privacy.reply"
EXTENSION_KIND = "privacy.extension"
EXTENSION_PROBLEMS = {
    "months": _l("An extension is one or two months."),
    "twice": _l("This deadline was already extended; the law allows one extension."),
    "reason": _l("Give the reason for the extension: the sender is told it."),
    "late": _l("The first month is over: an extension had to be announced before the deadline."),
}
KINDS = {REPLY_KIND: "reply to an inquiry (staff console)", EXTENSION_KIND: "inquiry deadline extended"}


class DeskError(ValueError):
    """Something the staff member can fix; the message is safe to show."""


@dataclass(frozen=True)
class Case:
    inquiry: Inquiry
    file: CaseFile | None
    replies: list[CaseReply]

    @property
    def assignee(self) -> User | None:
        if self.file is None or self.file.assignee_id is None:
            return None
        return db.session.get(User, self.file.assignee_id)

    @property
    def extended(self) -> bool:
        return self.file is not None and self.file.extended_at is not None


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _date(value: datetime) -> str:
    return value.astimezone(_zone()).strftime("%Y-%m-%d")


def open_cases() -> list[tuple[Inquiry, CaseFile | None]]:
    """Open inquiries, the nearest deadline first, each with its case file (if any)."""
    rows = db.session.execute(
        select(Inquiry, CaseFile).outerjoin(CaseFile, CaseFile.inquiry_id == Inquiry.id)
        .where(Inquiry.status == "open").order_by(Inquiry.due_at, Inquiry.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def recent_answered(limit: int = 20) -> list[Inquiry]:
    return inquiries.recent_answered(limit)


def load(reference: str) -> Case | None:
    inquiry = inquiries.find(reference) if isinstance(reference, str) else None
    if inquiry is None:
        return None
    file = db.session.scalar(select(CaseFile).where(CaseFile.inquiry_id == inquiry.id))
    replies = list(db.session.scalars(
        select(CaseReply).where(CaseReply.inquiry_id == inquiry.id).order_by(CaseReply.id)
    ))
    return Case(inquiry, file, replies)


def _locked_case(reference: str) -> tuple[Inquiry, CaseFile]:
    """Inside a write transaction: the inquiry and its case file (made on first use)."""
    inquiry = inquiries.find(reference)
    if inquiry is None:
        raise DeskError(_("There is no inquiry with that reference."))
    file = db.session.scalar(select(CaseFile).where(CaseFile.inquiry_id == inquiry.id))
    if file is None:
        file = CaseFile(inquiry_id=inquiry.id)
        db.session.add(file)
    return inquiry, file


def staff_accounts() -> list[User]:
    """Who a case can be assigned to: the staff accounts (never a list of other people)."""
    return list(db.session.scalars(select(User).where(User.is_admin.is_(True)).order_by(User.email_key)))


def update_case(staff: Any, reference: str, assignee_id: int | None, notes: str) -> None:
    notes = (notes or "").replace("\r\n", "\n").strip()
    if len(notes) > MAX_NOTES or "\x00" in notes:
        raise DeskError(_("Please keep the notes under %(count)d characters.", count=MAX_NOTES))
    with write_transaction():
        if assignee_id is not None:
            assignee = db.session.get(User, assignee_id)
            if assignee is None or not assignee.is_admin:
                raise DeskError(_("Choose the assignee from the list of staff accounts."))
        inquiry, file = _locked_case(reference)
        changes = []
        if file.assignee_id != assignee_id:
            file.assignee_id = assignee_id
            changes.append(f"assignee={assignee_id or 'none'}")
        if file.notes != notes:
            file.notes = notes
            changes.append("notes")
        file.updated_at = utcnow()
        if changes:
            audit_log.record(staff, "inquiry.update", inquiry.reference, ", ".join(changes))


def extend(staff: Any, reference: str, months: int, reason: str, now: datetime | None = None) -> datetime:
    """Extend the deadline once, tell the sender why (Art. 12(3)); returns the new deadline."""
    reason = (reason or "").replace("\r\n", "\n").strip()
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise DeskError(_("Please keep the reason under %(count)d characters.", count=MAX_REASON))
    now = now or utcnow()
    with write_transaction():
        inquiry, file = _locked_case(reference)
        if not inquiry.is_open:
            raise DeskError(_("This inquiry is already answered."))
        try:
            deadlines.check_extension(already_extended=file.extended_at is not None, reason=reason,
                                      original_due=inquiry.due_at, now=now)
            new_due = deadlines.extended_due(inquiry.due_at, months, _zone())
        except deadlines.DeadlineError as error:
            raise DeskError(str(EXTENSION_PROBLEMS[error.code])) from None
        file.original_due_at = inquiry.due_at
        file.extended_at, file.extension_months, file.extension_reason = now, months, reason
        # The inquiry's own due date moves too: the CLI list, the audit and the overdue count use it.
        inquiry.due_at = new_due
        if inquiry.email:
            mail.enqueue(
                inquiry.email,
                _("Your data-protection inquiry %(reference)s: we need more time", reference=inquiry.reference),
                "privacy_extension", kind=EXTENSION_KIND, user_id=inquiry.user_id,
                reply_to=_reply_to(), inquiry=inquiry, due=_date(new_due), reason=reason,
                contact_url=external_url("privacy.contact"),
            )
        audit_log.record(staff, "inquiry.extend", inquiry.reference, f"+{months} month(s): {reason[:500]}")
    return new_due


def _reply_to() -> str | None:
    dpo = current_app.config.get("DPO_EMAIL")
    return str(dpo) if dpo else None


def clean_reply(subject: str, body: str) -> tuple[str, str]:
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n").strip()
    if not subject:
        raise DeskError(_("Please write a subject."))
    if len(subject) > MAX_SUBJECT or "\x00" in subject:
        raise DeskError(_("Please keep the subject under %(count)d characters.", count=MAX_SUBJECT))
    if not body:
        raise DeskError(_("Please write the reply."))
    if len(body) > MAX_BODY or "\x00" in body:
        raise DeskError(_("Please keep the reply under %(count)d characters.", count=MAX_BODY))
    return subject, body


def reply(staff: Any, reference: str, subject: str, body: str, mark_answered: bool = False) -> CaseReply:
    """Queue the reply to the sender and keep it with the case, in one transaction."""
    subject, body = clean_reply(subject, body)
    with write_transaction():
        inquiry, _file = _locked_case(reference)
        if not inquiry.email:
            raise DeskError(_("This inquiry's address was erased; there is nobody to reply to."))
        delivery = mail.enqueue(
            inquiry.email, subject, "privacy_reply", kind=REPLY_KIND, user_id=inquiry.user_id,
            reply_to=_reply_to(), inquiry=inquiry, body=body, auto_submitted=False,
            contact_url=external_url("privacy.contact"),
        )
        db.session.flush()
        kept = CaseReply(inquiry_id=inquiry.id, staff_email=staff.email, subject=subject, body=body,
                         delivery_id=delivery.id)
        db.session.add(kept)
        audit_log.record(staff, "inquiry.reply", inquiry.reference, f"reply {len(body)} characters")
    if mark_answered:
        answer(staff, reference)
    return kept


def answer(staff: Any, reference: str) -> Inquiry:
    # The inquiries' own function marks it (and redacts a case whose sender erased their account);
    # the audit entry follows in the next transaction, so it never claims an answer that failed.
    try:
        inquiry = inquiries.mark_answered(reference)
    except inquiries.InquiryError:
        if inquiries.find(reference) is None:
            raise DeskError(_("There is no inquiry with that reference.")) from None
        raise DeskError(_("This inquiry is already answered.")) from None
    with write_transaction():
        if inquiry.redacted_at is not None:
            _redact_replies([inquiry.id])
        audit_log.record(staff, "inquiry.answered", inquiry.reference)
    return inquiry


def delivery_status(reply: CaseReply) -> str:
    from portal.mail.models import Delivery

    if reply.delivery_id is None:
        return ""
    return db.session.scalar(select(Delivery.status).where(Delivery.id == reply.delivery_id)) or "purged"


def linked_account(inquiry: Inquiry) -> User | None:
    """The account the case is about: the signed-in sender, or a confirmed account with its address.

    An unconfirmed account never proved it owns the address, so it is not offered for export or
    erasure on the strength of an inquiry (the same rule as the inquiries' own erasure)."""
    if inquiry.user_id is not None:
        return db.session.get(User, inquiry.user_id)
    if inquiry.email_key:
        return db.session.scalar(
            select(User).where(User.email_key == inquiry.email_key, User.confirmed_at.is_not(None))
        )
    return None


# --- the person's own data: replies and notes are part of their export, and go with them -------


def _inquiries_of(user: Any) -> Any:
    # The inquiries' own rule (portal.privacy.inquiries): the link, or a proven address.
    if getattr(user, "confirmed_at", None) is None:
        return Inquiry.user_id == user.id
    return or_(Inquiry.user_id == user.id, Inquiry.email_key == user.email_key)


def export_for(user: Any) -> dict[str, Any]:
    rows = db.session.execute(
        select(Inquiry.reference, CaseReply).join(CaseReply, CaseReply.inquiry_id == Inquiry.id)
        .where(_inquiries_of(user)).order_by(CaseReply.id)
    ).all()
    files = db.session.execute(
        select(Inquiry.reference, CaseFile).join(CaseFile, CaseFile.inquiry_id == Inquiry.id)
        .where(_inquiries_of(user))
    ).all()
    return {
        "inquiry_replies": [
            {"reference": ref, "sent_at": r.sent_at.isoformat(), "subject": r.subject, "body": r.body}
            for ref, r in rows
        ],
        "inquiry_case_notes": [
            {"reference": ref, "notes": f.notes, "extension_reason": f.extension_reason or None}
            for ref, f in files if f.notes or f.extension_reason
        ],
    }


def erase_for(user: Any) -> None:
    """Closed cases lose their replies' text now; open ones when answered (like the inquiries)."""
    closed = list(db.session.scalars(
        select(Inquiry.id).where(_inquiries_of(user), Inquiry.status != "open")
    ))
    _redact_replies(closed)
    db.session.execute(update(CaseFile).where(CaseFile.assignee_id == user.id).values(assignee_id=None))


def _redact_replies(inquiry_ids: list[int]) -> None:
    if not inquiry_ids:
        return
    db.session.execute(update(CaseReply).where(CaseReply.inquiry_id.in_(inquiry_ids)).values(body="", subject=""))
    db.session.execute(update(CaseFile).where(CaseFile.inquiry_id.in_(inquiry_ids))
                       .values(notes="", extension_reason=""))
