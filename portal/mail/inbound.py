"""``flask mail inbound``: one message that came back, mapped to its delivery and applied.

Who a report is about is decided by the return-path tag alone (portal.mail.returnpath): the
address the report was sent to (the MTA's ``Delivered-To``/``X-Original-To``, the envelope
recipient passed with ``--recipient``, ``To``), or for an ARF complaint the original envelope
sender it quotes. A tag that does not verify is ignored with a log line; the addresses a report
lists inside are only used to pick, among its per-recipient blocks, the one about our recipient.

Tags other than a delivery's (``unsub-...``, the List-Unsubscribe mailto) go to the handler the
owning area registered, so mail does not import the newsletter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from portal.extensions import db
from portal.mail import feedback, reports, returnpath
from portal.mail.feedback_models import COMPLAINED, HARD_BOUNCE, SOFT_BOUNCE
from portal.mail.models import Delivery

log = logging.getLogger("portal.mail.inbound")

MAX_MESSAGE_BYTES = 20 * 1024 * 1024

# prefix of a tag (before the first '-') -> handler(rest of the tag) -> what it did, or None if it
# did not verify. Registered by the area that owns those addresses (the newsletter: "unsub").
TagHandler = Callable[[returnpath.ReturnPaths, str], str | None]
_handlers: dict[str, TagHandler] = {}


def register_tag_handler(prefix: str, handler: TagHandler) -> None:
    _handlers[prefix] = handler


@dataclass(frozen=True)
class Result:
    action: str  # "applied", "ignored"
    summary: str  # for the operator and the log: never an address or a tag


def process(raw: bytes, envelope_recipient: str | None = None) -> Result:
    """The caller commits. Content problems never raise; database errors do (the MTA retries)."""
    paths = returnpath.current()
    try:
        report = reports.read(raw)
    except Exception:  # the parser is lenient; anything left is a message we cannot read: ignore it
        log.exception("Inbound message could not be parsed; ignored")
        return _ignored("a message that could not be parsed")
    candidates = ([envelope_recipient] if envelope_recipient else []) + report.addressed_to
    if report.kind == reports.ARF:
        candidates += report.original_senders
    tags = [t for t in (paths.find_tag(a) for a in candidates) if t is not None]
    if not tags:
        what = {"dsn": "a delivery status notification", "arf": "a complaint report"}.get(report.kind, "a message")
        return _ignored(f"{what} not addressed to a tagged return path (BOUNCE_ADDRESS "
                        f"{'is not set' if paths.base is None else 'has no tag here'})")
    for tag in tags:
        prefix = tag.tag.split("-", 1)[0]
        if prefix in _handlers and report.kind == reports.OTHER:
            done = _handlers[prefix](paths, tag.tag[len(prefix) + 1 :])
            if done is None:
                return _ignored(f"mail to a {prefix} address whose signature does not verify (forged or altered)")
            log.info("Inbound: %s", done)
            return Result("applied", done)
    delivery_id = next((d for d in (paths.delivery_of(t) for t in tags) if d is not None), None)
    if delivery_id is None:
        return _ignored(f"{report.kind} with a return-path tag that does not verify (forged or altered)")
    if report.kind == reports.OTHER:
        return _ignored(f"a message to the return path of delivery {delivery_id} that is not a report "
                        "(an auto-reply?)")
    return _apply(report, delivery_id)


def _apply(report: reports.Report, delivery_id: int) -> Result:
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        return _ignored(f"{report.kind} for delivery {delivery_id}, which is no longer in the ledger")
    if report.kind == reports.ARF:
        if report.feedback_type not in reports.COMPLAINT_TYPES:
            return _ignored(f"feedback report of type {report.feedback_type[:30]!r} for delivery {delivery_id}: "
                            "not a complaint")
        outcome = feedback.apply(feedback.Report(COMPLAINED, "arf", delivery_id=delivery_id,
                                                 detail=f"Feedback-Type: {report.feedback_type}"))
        return _applied(outcome)
    status = _worst_status(report, feedback.recipient_of(delivery))
    if status is None:
        return _ignored(f"delivery status notification for delivery {delivery_id} with no failure in it")
    kind = HARD_BOUNCE if status.permanent else SOFT_BOUNCE
    detail = f"{status.action} {status.status} {status.diagnostic}".strip()
    return _applied(feedback.apply(feedback.Report(kind, "dsn", delivery_id=delivery_id, detail=detail)))


def _worst_status(report: reports.Report, recipient: str | None) -> reports.RecipientStatus | None:
    """Our message had one recipient, so the blocks naming it count; when none names it (a
    forwarder rewrote the address) every block is about our message's path."""
    wanted = (recipient or "").lower()
    mine = [r for r in report.recipients
            if wanted and wanted in (r.final_recipient.lower(), r.original_recipient.lower())]
    blocks = mine or report.recipients
    return next((r for r in blocks if r.permanent), None) or next((r for r in blocks if r.temporary), None)


def _applied(outcome: feedback.Outcome) -> Result:
    log.info("Inbound: %s", outcome.summary)
    return Result("applied" if outcome.recorded else "ignored", outcome.summary)


def _ignored(summary: str) -> Result:
    log.info("Inbound message ignored: %s", summary)
    return Result("ignored", summary)
