"""Issues and the monthly cap: creating, starting (the cap and the frozen recipient list), status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, func, insert, literal, select

from portal.accounts.models import User
from portal.db import utcnow, write_transaction
from portal.extensions import db
from portal.mail.models import PRIORITY_BULK
from portal.mail.outbox import WAKE_FLAG
from portal.newsletter import languages
from portal.newsletter.models import PENDING, Delivery, Issue, Subscription

KIND = "newsletter"  # the mail kind of a copy (portal.newsletter.copies)

HARD_MONTHLY_MAXIMUM = 2  # the policy's "in rare cases twice"; the schema allows slots 1 and 2 only
MAX_SUBJECT = 200
MAX_BODY = 200_000


class CapError(RuntimeError):
    """The monthly cap forbids starting this issue; the message says when the next may go out.
    ``code`` names the rule for what is stored and translated later (the message is the CLI's)."""

    def __init__(self, message: str, code: str = "cap") -> None:
        super().__init__(message)
        self.code = code


class IssueError(ValueError):
    """Bad input for an issue (unknown id, empty subject...)."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def month_of(moment: datetime) -> str:
    return moment.astimezone(_zone()).strftime("%Y-%m")


def next_month_start(moment: datetime) -> datetime:
    local = moment.astimezone(_zone())
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=_zone())


def _checked(subject: str, body_markdown: str) -> tuple[str, str]:
    subject = (subject or "").strip()
    if not subject or len(subject) > MAX_SUBJECT or "\n" in subject or "\r" in subject:
        raise IssueError(f"The subject must be one line of 1 to {MAX_SUBJECT} characters.")
    if not body_markdown.strip():
        raise IssueError("The body is empty.")
    if len(body_markdown) > MAX_BODY:
        raise IssueError(f"The body is longer than {MAX_BODY} characters.")
    return subject, body_markdown


def create_issue(subject: str, body_markdown: str,
                 translations: Mapping[str, tuple[str, str]] | None = None) -> Issue:
    """An issue in the default language, plus ``translations``: language -> (subject, body)."""
    subject, body_markdown = _checked(subject, body_markdown)
    texts = {language: _checked(*text) for language, text in (translations or {}).items()}
    unknown = languages.unknown_languages(texts)
    if unknown:
        raise IssueError(f"{', '.join(unknown)}: not one of the other languages in LANGUAGES "
                         f"({', '.join(current_app.config['LANGUAGES'])}).")
    issue = Issue(subject=subject, body_markdown=body_markdown)
    db.session.add(issue)
    db.session.flush()
    languages.add_texts(issue, texts)
    db.session.commit()
    return issue


def get_issue(issue_id: int) -> Issue:
    issue = db.session.get(Issue, issue_id)
    if issue is None:
        raise IssueError(f"There is no newsletter issue {issue_id}.")
    return issue


def recipients_query() -> Select[int]:
    """Who receives an issue: confirmed accounts with an active subscription."""
    return (
        select(Subscription.user_id)
        .join(User, User.id == Subscription.user_id)
        .where(Subscription.active.is_(True), User.confirmed_at.is_not(None))
    )


@dataclass(frozen=True)
class StartResult:
    issue_id: int
    started_now: bool  # False: it had started before, this run resumes it
    slot: int
    month: str
    recipients: int


def start_issue(issue_id: int, second_this_month: bool = False, reason: str | None = None) -> StartResult:
    """Check the cap and mark the issue started, in ONE transaction under a lock.

    The lock serialises concurrent starts (two operators at the same moment); the unique
    (month, slot) pair with slot in {1, 2} is the database's own guard behind the code. The
    recipient list is frozen into the ledger in the same transaction, so an issue is never
    started without its ledger, nor given a second ledger.
    """
    reason = (reason or "").strip() or None
    if second_this_month and not reason:
        raise CapError("--second-this-month needs --reason TEXT: the reason is recorded.", "reason")
    with write_transaction("newsletter-cap"):
        issue = db.session.get(Issue, issue_id, populate_existing=True)
        if issue is None:
            raise IssueError(f"There is no newsletter issue {issue_id}.", "missing")
        if issue.started_at is not None:
            count = db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.issue_id == issue_id))
            return StartResult(issue_id, False, issue.cap_slot or 0, issue.started_month or "", count or 0)
        now = utcnow()
        month = month_of(now)
        started = db.session.scalar(select(func.count()).select_from(Issue).where(Issue.started_month == month)) or 0
        limit = current_app.config["NEWSLETTER_MONTHLY_LIMIT"]
        next_at = next_month_start(now).strftime("%Y-%m-%d %H:%M %Z")
        if started >= HARD_MONTHLY_MAXIMUM:
            raise CapError(
                f"Refused: {started} issues have already started sending in {month}; a third is never "
                f"allowed. The next issue may go out from {next_at}.", "third"
            )
        if started >= limit and not second_this_month:
            raise CapError(
                f"Refused: {started} issue(s) already started sending in {month} "
                f"(NEWSLETTER_MONTHLY_LIMIT={limit}). The next issue may go out from {next_at}; "
                "a second one this month needs --second-this-month --reason TEXT.", "limit"
            )
        issue.started_at = now
        issue.started_month = month
        issue.cap_slot = started + 1
        issue.second_reason = reason if started >= 1 else None
        db.session.flush()
        when = literal(now, type_=Delivery.updated_at.type)
        expires = literal(now + timedelta(seconds=current_app.config["MAIL_RETRY_FOR"]), type_=Delivery.updated_at.type)
        db.session.execute(
            insert(Delivery).from_select(
                ["kind", "priority", "issue_id", "user_id", "status", "attempts", "smtputf8", "forget_address",
                 "created_at", "next_attempt_at", "expires_at", "updated_at"],
                select(literal(KIND), literal(PRIORITY_BULK), literal(issue_id),
                       recipients_query().subquery().c.user_id, literal(PENDING), literal(0), literal(False),
                       literal(False), when, when, expires, when),
            )
        )
        db.session.info[WAKE_FLAG] = True  # the web processes' workers start on it at once
        # Counted, not rowcount: psycopg reports -1 for INSERT ... SELECT through SQLAlchemy.
        frozen = db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.issue_id == issue_id))
        if not frozen:
            # Starting would use up a slot of the monthly cap for nobody.
            raise IssueError("Nobody is subscribed (with a confirmed address): the issue was not started.", "nobody")
        return StartResult(issue_id, True, started + 1, month, frozen or 0)


def status_counts(issue_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.status)
    ).all()
    return {status: count for status, count in rows}


def problem_deliveries(issue_id: int, statuses: tuple[str, ...]) -> list[tuple[str, str, int, str | None, str | None]]:
    """(status, address, attempts, last error, Message-ID) of the copies an operator has to look at;
    the Message-ID finds an uncertain copy in the relay's log."""
    rows = db.session.execute(
        select(Delivery.status, User.email, Delivery.attempts, Delivery.last_error, Delivery.message_id)
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.issue_id == issue_id, Delivery.status.in_(statuses))
        .order_by(Delivery.status, Delivery.id)
    ).all()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def retrying(issue_id: int) -> tuple[int, datetime | None]:
    """Copies waiting after a temporary failure, and when the next of them is due."""
    count, due = db.session.execute(
        select(func.count(), func.min(Delivery.next_attempt_at))
        .where(Delivery.issue_id == issue_id, Delivery.status == PENDING, Delivery.attempts > 0)
    ).one()
    return count or 0, due


def archive() -> list[Issue]:
    query = select(Issue).where(Issue.started_at.is_not(None)).order_by(Issue.started_at.desc())
    return list(db.session.scalars(query))


def archived_issue(issue_id: int) -> Issue | None:
    issue = db.session.get(Issue, issue_id)
    return issue if issue is not None and issue.started_at is not None else None
