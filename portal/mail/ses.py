"""SES bounce, complaint and delivery notifications arriving through SNS (``POST /hooks/ses``).

Order matters: nothing is written before the message is verified (portal.mail.sns). Then its
MessageId is recorded in the same transaction as its effects, so a replay (by MessageId) is
refused and a message is never applied twice; ids are forgotten after a day, by which time the
Timestamp check (one hour) refuses the message anyway.

What the portal relies on in an SES notification (SES "notifications" and "event publishing"
shapes alike): ``notificationType`` or ``eventType``; ``bounce.bounceType`` and
``bounce.bouncedRecipients[].emailAddress``; ``complaint.complainedRecipients[].emailAddress``;
and, to find our delivery (for per-issue rates and "delivered"), ``mail.source`` — the MAIL FROM
we used, whose return-path tag is verified — or else our Message-ID from ``mail.headers`` /
``mail.commonHeaders.messageId`` (present when "include original headers" is on). The
recipients themselves are believed because SES signed them; a notification that maps to no
delivery still suppresses its recipients.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal.db import utcnow
from portal.extensions import db
from portal.mail import feedback, returnpath, sns
from portal.mail.feedback_models import COMPLAINED, DELIVERED, HARD_BOUNCE, SOFT_BOUNCE, SeenNotification
from portal.mail.models import Delivery

log = logging.getLogger("portal.mail.ses")
SEEN_FOR = timedelta(days=1)


@dataclass(frozen=True)
class Answer:
    status: int
    message: str


def receive(body: bytes) -> Answer:
    """One POST from SNS: verified, then applied and committed — or refused with nothing changed."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _refused(sns.Refused(400, "the body is not JSON"))
    if not isinstance(message, dict):
        return _refused(sns.Refused(400, "the body is not a JSON object"))
    config = current_app.config
    try:
        sns.verify(message, list(config["SES_TOPIC_ARNS"]), sns.Trust.from_config(config))
    except sns.Refused as refusal:
        return _refused(refusal)
    if not _first_time(message["MessageId"]):
        return _refused(sns.Refused(409, "this MessageId was already processed: refused as a replay"))
    kind = message["Type"]
    effects: list[feedback.Report] = []
    if kind == "SubscriptionConfirmation":
        trust = sns.Trust.from_config(config)
        try:
            sns.fetch(sns.check_url(message.get("SubscribeURL"), trust, pem=False), trust)
        except sns.Refused as refusal:
            return _refused(refusal)  # the rollback forgets the MessageId: SNS may send it again
        answer = Answer(200, "subscription confirmed")
    elif kind == "UnsubscribeConfirmation":
        answer = Answer(200, "unsubscription noted")
    else:
        effects, note = reports_in(message["Message"])
        answer = Answer(200, note)
    for report in effects:
        outcome = feedback.apply(report)
        log.info("SES: %s", outcome.summary)
    db.session.commit()
    log.info("SNS %s from %s: %s", kind, message["TopicArn"], answer.message)
    return answer


def _refused(refusal: sns.Refused) -> Answer:
    db.session.rollback()
    log.warning("POST /hooks/ses refused (%d): %s", refusal.status, refusal.reason)
    return Answer(refusal.status, refusal.reason)


def _first_time(message_id: str) -> bool:
    """Record the id; False if it was seen already (also when two copies race: the primary key)."""
    now = utcnow()
    db.session.execute(delete(SeenNotification).where(SeenNotification.seen_at < now - SEEN_FOR))
    if db.session.get(SeenNotification, message_id[:100]) is not None:
        return False
    db.session.add(SeenNotification(message_id=message_id[:100], seen_at=now))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def reports_in(text: str) -> tuple[list[feedback.Report], str]:
    """The reports an SES notification carries, and a note on what it was."""
    try:
        notification = json.loads(text)
    except ValueError:
        return [], "a notification whose Message is not SES JSON: ignored"
    if not isinstance(notification, dict):
        return [], "a notification whose Message is not SES JSON: ignored"
    kind = notification.get("notificationType") or notification.get("eventType")
    mail: dict[str, Any] = notification["mail"] if isinstance(notification.get("mail"), dict) else {}
    delivery_id = _delivery_of(mail)
    if kind == "Bounce":
        bounce = _dict(notification.get("bounce"))
        permanent = bounce.get("bounceType") == "Permanent"
        detail = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
        reports = [feedback.Report(HARD_BOUNCE if permanent else SOFT_BOUNCE, "ses", address=address,
                                   delivery_id=delivery_id, detail=f"{detail} {extra}".strip())
                   for address, extra in _recipients(bounce, "bouncedRecipients")]
        return reports, f"bounce ({detail}) for {len(reports)} recipient(s)"
    if kind == "Complaint":
        complaint = _dict(notification.get("complaint"))
        detail = str(complaint.get("complaintFeedbackType") or "complaint")
        reports = [feedback.Report(COMPLAINED, "ses", address=address, delivery_id=delivery_id, detail=detail)
                   for address, _ in _recipients(complaint, "complainedRecipients")]
        return reports, f"complaint for {len(reports)} recipient(s)"
    if kind == "Delivery":
        if delivery_id is None:
            return [], "delivery notification for no delivery of ours"
        return [feedback.Report(DELIVERED, "ses", delivery_id=delivery_id)], "delivery"
    return [], f"notification of type {str(kind)[:30]!r}: ignored"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _recipients(section: dict[str, Any], key: str) -> list[tuple[str, str]]:
    found = []
    for entry in section.get(key) or []:
        if isinstance(entry, dict) and isinstance(entry.get("emailAddress"), str) and "@" in entry["emailAddress"]:
            extra = " ".join(str(entry[k]) for k in ("status", "diagnosticCode") if entry.get(k))
            found.append((entry["emailAddress"], extra[:300]))
    return found


def _delivery_of(mail: dict[str, Any]) -> int | None:
    paths = returnpath.current()
    source = mail.get("source")
    tag = paths.find_tag(source) if isinstance(source, str) else None
    if tag is not None:
        did = paths.delivery_of(tag)
        if did is not None:
            return did
    message_id = _dict(mail.get("commonHeaders")).get("messageId")
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            message_id = header.get("value")
    if isinstance(message_id, str) and message_id.strip():
        return db.session.scalar(select(Delivery.id).where(Delivery.message_id == message_id.strip()[:255]))
    return None
