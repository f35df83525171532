"""Helpers for bounce/complaint tests: a sent newsletter with tagged return paths, fixtures filled
in for one delivery, and a snapshot of everything a report could change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from portal.accounts.models import User
from portal.extensions import db
from portal.mail import returnpath
from portal.mail.feedback_models import Feedback, SeenNotification, Suppression
from portal.newsletter import issues
from portal.newsletter.models import Delivery, Subscription, SubscriptionEvent
from portal.newsletter.sender import Sender, SendOptions
from tests.newsletter_support import make_issue, make_subscribers

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mail"
BOUNCE_ADDRESS = "bounces@mail.portal.example"


@dataclass(frozen=True)
class Sent:
    delivery_id: int
    recipient: str
    message_id: str
    return_path: str
    user_id: int


def send_issue(count: int = 3) -> tuple[int, list[Sent]]:
    """A newsletter issue sent to ``count`` subscribers; each copy's tagged return path."""
    emails = make_subscribers(count)
    issue_id = make_issue()
    issues.start_issue(issue_id)
    Sender(issue_id, SendOptions(retry_delay=0.0, failure_delay=0.05)).run()
    paths = returnpath.current()
    sent = []
    for row, email in db.session.execute(
        select(Delivery, User.email).join(User, User.id == Delivery.user_id)
        .where(Delivery.issue_id == issue_id).order_by(User.email)
    ).all():
        assert row.status == "sent", row.last_error
        sent.append(Sent(row.id, email, row.message_id, paths.envelope_sender(row.id) or "", row.user_id))
    assert [s.recipient for s in sent] == emails
    db.session.rollback()
    return issue_id, sent


def fixture(name: str, sent: Sent, other: str = "someone-else@example.org", return_path: str | None = None) -> bytes:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in (("RETURN_PATH", return_path or sent.return_path), ("RECIPIENT", sent.recipient),
                       ("OTHER", other), ("MESSAGE_ID", sent.message_id)):
        text = text.replace("{{" + key + "}}", value)
    return text.replace("\n", "\r\n").encode("utf-8")


def forged(return_path: str) -> str:
    """The same delivery id with a different MAC."""
    local, domain = return_path.split("@")
    head, mac = local.rsplit("-", 1)
    return f"{head}-{'a' if mac[0] != 'a' else 'b'}{mac[1:]}@{domain}"


def snapshot() -> dict[str, Any]:
    """Everything a bounce, complaint or unsubscription could change."""
    db.session.rollback()
    state = {
        "suppressions": sorted(db.session.execute(select(Suppression.address, Suppression.reason)).all()),
        "feedback": db.session.scalar(select(func.count()).select_from(Feedback)),
        "events": db.session.scalar(select(func.count()).select_from(SubscriptionEvent)),
        "subscribed": sorted(db.session.scalars(select(Subscription.user_id).where(Subscription.active.is_(True)))),
        "seen": db.session.scalar(select(func.count()).select_from(SeenNotification)),
        "delivered": db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.delivered_at.is_not(None))),
    }
    db.session.rollback()
    return state
