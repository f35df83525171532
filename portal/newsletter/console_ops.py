"""What the console does with issues, as plain functions: test copies, progress, the uncertain
review, retries, subscriber counts per week and feedback rates. Views call these and commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, literal_column, select, update

from portal.accounts.models import User
from portal.db import affected, utcnow
from portal.extensions import db
from portal.links import external_url
from portal.mail import status as queue
from portal.mail.feedback import issue_rates
from portal.mail.models import CLAIMED, FAILED, HELD, PENDING, SENDING, SENT, SKIPPED, UNCERTAIN, Delivery
from portal.mail.outbox import WAKE_FLAG, enqueue_composed
from portal.newsletter import render
from portal.newsletter.models import Issue, SubscriptionEvent
from portal.newsletter.subscriptions import unsubscribe_token

TEST_KIND = "newsletter.test"
RATE_WINDOW = timedelta(minutes=5)  # the sending rate is measured over this much recent time
# The rates at which Amazon SES puts an account under review (as `flask newsletter status` warns).
BOUNCE_RATE_LIMIT = 0.05
COMPLAINT_RATE_LIMIT = 0.001


def queue_test_copy(issue: Issue, staff: User) -> Delivery:
    """A test copy to the staff member's own address, through the delivery engine like the CLI's
    ``test-send``: it does not start the issue and does not count for the cap. The caller commits."""
    rendered = render.render_issue(f"[TEST] {issue.subject}", issue.body_markdown)
    url = external_url("newsletter.unsubscribe_page", token=unsubscribe_token(staff.id, staff.email_key))
    return enqueue_composed(render.build_message(rendered, staff.email, url), kind=TEST_KIND, user_id=staff.id)


@dataclass(frozen=True)
class Progress:
    sent: int
    pending: int  # waiting for their first attempt, or being handed over right now
    retrying: int  # waiting after a temporary failure
    held: int  # held by a pause
    failed: int
    uncertain: int
    skipped: int
    rate: float  # copies per minute over the last RATE_WINDOW
    next_retry: datetime | None

    @property
    def total(self) -> int:
        return self.sent + self.pending + self.retrying + self.held + self.failed + self.uncertain + self.skipped

    @property
    def remaining(self) -> int:
        return self.pending + self.retrying + self.held

    @property
    def eta_minutes(self) -> float | None:
        if not self.remaining:
            return 0.0
        return self.remaining / self.rate if self.rate > 0 else None

    @property
    def done_percent(self) -> int:
        total = self.total
        return 100 if not total else int(100 * (total - self.remaining) / total)

    def as_json(self) -> dict[str, object]:
        eta = self.eta_minutes
        return {
            "sent": self.sent, "pending": self.pending, "retrying": self.retrying, "held": self.held,
            "failed": self.failed, "uncertain": self.uncertain, "skipped": self.skipped, "total": self.total,
            "rate_per_minute": round(self.rate, 1), "eta_minutes": None if eta is None else round(eta, 1),
            "done_percent": self.done_percent,
        }


def progress(issue_id: int, now: datetime | None = None) -> Progress:
    now = now or utcnow()
    counts: dict[str, int] = {}
    retrying = 0
    for status, tried, count in db.session.execute(
        select(Delivery.status, Delivery.attempts > literal_column("0"), func.count())
        .where(Delivery.issue_id == issue_id).group_by(Delivery.status, Delivery.attempts > literal_column("0"))
    ):
        if status == PENDING and tried:
            retrying += count
        else:
            counts[status] = counts.get(status, 0) + count
    recent = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.issue_id == issue_id, Delivery.status == SENT, Delivery.sent_at >= now - RATE_WINDOW)) or 0
    next_retry = db.session.scalar(select(func.min(Delivery.next_attempt_at)).where(
        Delivery.issue_id == issue_id, Delivery.status == PENDING, Delivery.attempts > 0))
    return Progress(
        sent=counts.get(SENT, 0),
        pending=counts.get(PENDING, 0) + counts.get(CLAIMED, 0) + counts.get(SENDING, 0),
        retrying=retrying, held=counts.get(HELD, 0), failed=counts.get(FAILED, 0),
        uncertain=counts.get(UNCERTAIN, 0), skipped=counts.get(SKIPPED, 0),
        rate=recent / (RATE_WINDOW.total_seconds() / 60), next_retry=next_retry,
    )


@dataclass(frozen=True)
class Copy:
    id: int
    status: str
    email: str
    attempts: int
    last_error: str | None
    message_id: str | None
    updated_at: datetime


_COPY = select(Delivery.id, Delivery.status, User.email, Delivery.attempts, Delivery.last_error, Delivery.message_id,
               Delivery.updated_at).join(User, User.id == Delivery.user_id)


def copies(issue_id: int, status: str, limit: int = 100) -> list[Copy]:
    """The copies staff review (failed, uncertain): the address, never a message body."""
    rows = db.session.execute(
        _COPY.where(Delivery.issue_id == issue_id, Delivery.status == status).order_by(Delivery.id).limit(limit)
    ).all()
    return [Copy(*row) for row in rows]


def copy_of(issue_id: int, delivery_id: int, status: str) -> Copy | None:
    row = db.session.execute(
        _COPY.where(Delivery.id == delivery_id, Delivery.issue_id == issue_id, Delivery.status == status)
    ).first()
    return Copy(*row) if row is not None else None


def mark_delivered(issue_id: int, delivery_id: int) -> bool:
    """Staff checked the relay's log: the uncertain copy did arrive. The caller commits."""
    now = utcnow()
    return affected(db.session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.issue_id == issue_id, Delivery.status == UNCERTAIN)
        .values(status=SENT, sent_at=now, updated_at=now, claimed_by=None,
                smtp_reply="marked delivered by staff after checking the relay's log")
    )) == 1


def resend(issue_id: int, delivery_id: int) -> bool:
    """Staff decided the uncertain copy did not arrive: queued again (re-checked when it goes out,
    like ``flask mail retry --uncertain``). The caller commits."""
    from flask import current_app

    now = utcnow()
    done = affected(db.session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.issue_id == issue_id, Delivery.status == UNCERTAIN)
        .values(status=PENDING, next_attempt_at=now, claimed_by=None, updated_at=now,
                expires_at=now + timedelta(seconds=current_app.config["MAIL_RETRY_FOR"]))
    )) == 1
    if done:
        db.session.execute(update(Issue).where(Issue.id == issue_id).values(finished_at=None))
        db.session.info[WAKE_FLAG] = True
    return done


def retry_failed(issue_id: int) -> int:
    """What ``flask newsletter retry ID`` does: failed copies back to the queue. The caller commits."""
    count = queue.requeue((FAILED,), issue_id=issue_id)
    if count:
        db.session.execute(update(Issue).where(Issue.id == issue_id).values(finished_at=None))
        db.session.info[WAKE_FLAG] = True
    return count


@dataclass(frozen=True)
class Week:
    start: date  # the Monday
    joined: int
    left: int
    subscribed: int  # at the end of the week


def subscriber_weeks(weeks: int = 26, today: date | None = None) -> list[Week]:
    """Subscribers per week from the subscription history: changes of state only (a repeated
    "subscribe" is not a new subscriber). Accounts erased since take their history with them."""
    today = today or utcnow().date()
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    state: dict[int, bool] = {}
    joined: dict[date, int] = {}
    left: dict[date, int] = {}
    before = 0
    query = select(SubscriptionEvent.user_id, SubscriptionEvent.at, SubscriptionEvent.subscribed).order_by(
        SubscriptionEvent.at, SubscriptionEvent.id)
    for user_id, at, subscribed in db.session.execute(query.execution_options(yield_per=1000)):
        if state.get(user_id, False) == subscribed:
            continue
        state[user_id] = subscribed
        day = at.date()
        monday = day - timedelta(days=day.weekday())
        if monday < first:
            before += 1 if subscribed else -1
            continue
        bucket = joined if subscribed else left
        bucket[monday] = bucket.get(monday, 0) + 1
    result = []
    count = before
    for n in range(weeks):
        monday = first + timedelta(weeks=n)
        count += joined.get(monday, 0) - left.get(monday, 0)
        result.append(Week(monday, joined.get(monday, 0), left.get(monday, 0), count))
    return result


@dataclass(frozen=True)
class Rates:
    sent: int
    bounces: int
    complaints: int
    soft_bounces: int

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def bounce_alarm(self) -> bool:
        return bool(self.sent) and self.bounce_rate > BOUNCE_RATE_LIMIT

    @property
    def complaint_alarm(self) -> bool:
        return bool(self.sent) and self.complaint_rate > COMPLAINT_RATE_LIMIT


def rates(issue_id: int, sent: int) -> Rates:
    found = issue_rates(issue_id)
    return Rates(sent, found.get("bounce", 0), found.get("complaint", 0), found.get("soft-bounce", 0))
