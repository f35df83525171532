"""Reading what mail servers send back: RFC 3464 delivery status notifications and RFC 5965 ARF
complaint reports. Pure parsing, no database: ``read`` never raises on content, however broken.

Nothing here decides *who* a report is about — a report's content is written by whoever sent it.
The caller maps it to a delivery through the verified return-path tag (portal.mail.inbound);
this module only says what kind of report it is, the per-recipient outcomes, and which addresses
the report was sent to or names as the original envelope sender (where a tag can be).
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

DSN, ARF, OTHER = "dsn", "arf", "other"
# RFC 5965 §7.3 feedback types that mean "this recipient did not want it".
COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other"}
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
# Headers an MTA or mailbox poller writes with the envelope recipient of the report itself.
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN (RFC 3464 §2.3)."""

    final_recipient: str
    original_recipient: str
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # "5.1.1"
    diagnostic: str

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")

    @property
    def temporary(self) -> bool:
        return self.action == "delayed" or (self.action == "failed" and not self.status.startswith("5"))


@dataclass
class Report:
    kind: str  # DSN, ARF or OTHER
    # Where the report was addressed (its own envelope/To headers), most trustworthy first.
    addressed_to: list[str] = field(default_factory=list)
    # Addresses the report says the original was sent *from* (ARF Original-Mail-From, the
    # original's Return-Path): our tagged envelope sender, if the report kept it.
    original_senders: list[str] = field(default_factory=list)
    recipients: list[RecipientStatus] = field(default_factory=list)
    feedback_type: str = ""
    original_message_id: str = ""
    problems: list[str] = field(default_factory=list)  # what was odd, for the log line


def _addresses(values: list[str]) -> list[str]:
    found = []
    for _name, address in getaddresses([str(v) for v in values]):
        address = address.strip().strip("<>").strip()
        if address and "@" in address:
            found.append(address)
    return found


def _typed_address(value: str) -> str:
    """``rfc822; someone@example.com`` -> the address (RFC 3464 §2.3.2 address-type)."""
    value = " ".join(str(value).split())
    if ";" in value:
        kind, _, value = value.partition(";")
        if kind.strip().lower() not in ("rfc822", "utf-8"):
            return ""
    return value.strip().strip("<>").strip()


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part, however
    the parser stored them (a list of Message objects, or unparsed text)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        text = payload.replace("\r\n", "\n")
        return [HeaderParser().parsestr(block + "\n") for block in re.split(r"\n\s*\n", text) if block.strip()]
    return []


def _original_headers(part: Message) -> Message | None:
    """The returned original (message/rfc822) or its headers (text/rfc822-headers)."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):
        return HeaderParser().parsestr(payload.replace("\r\n", "\n"))
    return None


def read(raw: bytes) -> Report:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    addressed = _addresses([v for name in ENVELOPE_HEADERS for v in (message.get_all(name) or [])])
    report = Report(OTHER, addressed_to=addressed)
    if message.get_content_type() != "multipart/report":
        return report
    report_type = str(message.get_param("report-type", "") or "").lower()
    if report_type == "delivery-status":
        report.kind = DSN
    elif report_type == "feedback-report":
        report.kind = ARF
    else:
        report.problems.append(f"multipart/report of report-type {report_type[:40]!r}")
        return report
    parts = message.get_payload()
    if not isinstance(parts, list):
        report.problems.append("a report without parts")
        return report
    for part in parts:
        if not isinstance(part, Message):
            continue
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status") and report.kind == DSN:
            _read_status(part, report)
        elif content_type == "message/feedback-report" and report.kind == ARF:
            _read_feedback(part, report)
        elif content_type in ("message/rfc822", "text/rfc822-headers", "message/global",
                              "message/global-headers"):
            original = _original_headers(part)
            if original is not None:
                report.original_message_id = str(original.get("Message-ID", "") or "").strip()
                report.original_senders += _addresses(original.get_all("Return-Path") or [])
    if report.kind == DSN and not report.recipients:
        report.problems.append("no per-recipient status in the delivery status notification")
    return report


def _read_status(part: Message, report: Report) -> None:
    blocks = _field_blocks(part)
    # The first block is per-message (Reporting-MTA, ...); the rest are per-recipient.
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        action = str(block.get("Action", "") or "").strip().lower()
        status_match = _STATUS.match(str(block.get("Status", "") or ""))
        if not action or status_match is None:
            if block.get("Final-Recipient"):
                report.problems.append("a recipient block without a valid Action or Status")
            continue
        report.recipients.append(RecipientStatus(
            final_recipient=_typed_address(str(block.get("Final-Recipient", "") or "")),
            original_recipient=_typed_address(str(block.get("Original-Recipient", "") or "")),
            action=action, status=".".join(status_match.groups()),
            diagnostic=" ".join(str(block.get("Diagnostic-Code", "") or "").split())[:300],
        ))


def _read_feedback(part: Message, report: Report) -> None:
    blocks = _field_blocks(part)
    if not blocks:
        report.problems.append("an empty feedback report")
        return
    fields = blocks[0]
    report.feedback_type = str(fields.get("Feedback-Type", "") or "").strip().lower()
    report.original_senders += _addresses(fields.get_all("Original-Mail-From") or [])
