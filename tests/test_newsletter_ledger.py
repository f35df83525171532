"""Claim owners and leases: a dead sender's rows are recovered at once, a live one's never, and a
mail server that goes away mid-send pauses the run without losing or repeating anyone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from portal.db import utcnow
from portal.extensions import db as _db
from portal.mail.ledger import _process_start_time, make_owner, owner_is_dead
from portal.newsletter import issues
from portal.newsletter.models import Delivery
from portal.newsletter.render import MessageFactory, build_message, render_issue
from portal.newsletter.sender import Paused, Sender, SendOptions
from tests.helpers import SMTPSink, _Handler, html_part, text_part
from tests.newsletter_support import copies_by_recipient, make_issue, make_subscribers

FAST = dict(retry_delay=0.0, failure_delay=0.01)


def _dead_owner() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return f"{socket.gethostname()}:{child.pid}:12345:deadbeef"


def test_owner_liveness():
    assert not owner_is_dead(make_owner())  # this very process
    assert owner_is_dead(_dead_owner())
    assert not owner_is_dead("another-host:1:1:ab")  # only its lease can expire
    assert not owner_is_dead("garbage")
    # Same pid, different start time: the pid was reused by another process.
    assert owner_is_dead(f"{socket.gethostname()}:{os.getpid()}:{_process_start_time(os.getpid())}9:ab")


def test_recovery_respects_live_claims_and_reports_dead_handovers_as_uncertain(app, db, smtp):
    emails = make_subscribers(6)
    issue_id = make_issue()
    issues.start_issue(issue_id)
    ids = list(_db.session.scalars(select(Delivery.id).order_by(Delivery.id)))
    now, dead, live = utcnow(), _dead_owner(), make_owner()
    states = [
        ("sending", dead, now),  # 0: handed to SMTP by a dead sender -> uncertain, not resent
        ("claimed", dead, now),  # 1: reserved by a dead sender -> sent now
        ("sending", live, now),  # 2: a live sender on this host is sending it -> untouched
        ("claimed", "other-host:1:1:ab", now - timedelta(hours=1)),  # 3: lease expired -> sent now
        ("claimed", "other-host:1:1:ab", now),  # 4: live lease on another host -> untouched
    ]
    for delivery_id, (status, owner, at) in zip(ids, states, strict=False):
        _db.session.execute(
            update(Delivery).where(Delivery.id == delivery_id).values(status=status, claimed_by=owner, claimed_at=at)
        )
    _db.session.commit()
    outcome = Sender(issue_id, SendOptions(**FAST)).run()
    assert outcome.sent == 3  # rows 1, 3 and 5
    _db.session.rollback()
    status = dict(_db.session.execute(select(Delivery.id, Delivery.status)).all())
    assert [status[i] for i in ids] == ["uncertain", "sent", "sending", "sent", "claimed", "sent"]
    time.sleep(0.2)
    assert sorted(copies_by_recipient(smtp.messages)) == [emails[1], emails[3], emails[5]]
    assert issues.get_issue(issue_id).finished_at is None  # two rows are still held by live senders
    assert Sender(issue_id, SendOptions(**FAST)).run().sent == 0  # uncertain is not resent by default
    resent = Sender(issue_id, SendOptions(resend_uncertain=True, **FAST)).run()
    assert resent.sent == 1
    time.sleep(0.2)
    assert copies_by_recipient(smtp.messages)[emails[0]] == 1


def test_mail_server_down_mid_send_pauses_then_resumes(make_app):
    sink = SMTPSink()
    sink.start()
    port = sink.port
    app = make_app(MAIL_PORT=port)
    try:
        with app.app_context():
            make_subscribers(20)
            issue_id = make_issue()
            issues.start_issue(issue_id)
            sent: list[str] = []

            def progress(outcome: str) -> None:
                sent.append(outcome)
                if len(sent) == 7:
                    sink.controller.stop()  # the server goes away in the middle of a batch

            with pytest.raises(Paused, match="run the same command again"):
                Sender(issue_id, SendOptions(max_failures=3, **FAST), progress).run()
            _db.session.rollback()
            assert issues.status_counts(issue_id) == {"sent": 7, "pending": 13}

            sink.controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port)
            sink.controller.start()  # ... and comes back
            outcome = Sender(issue_id, SendOptions(**FAST)).run()
            assert outcome.sent == 13
            sink.wait_for(20)
            time.sleep(0.2)
            copies = copies_by_recipient(sink.messages)
            assert len(copies) == 20 and set(copies.values()) == {1}
            _db.session.remove()
    finally:
        sink.stop()


def test_prebuilt_messages_match_the_email_package(app, db):
    with app.test_request_context():
        rendered = render_issue("Zprávy: ěščř", "# Ahoj\n\nŽluťoučký kůň, [odkaz](https://example.org).\n")
        url = "http://127.0.0.1:8000/newsletter/unsubscribe/abc.def-ghi"
        fast = message_from_bytes(MessageFactory(rendered).build("a@example.com", url).raw,
                                  policy=policy.default)
        slow = message_from_bytes(build_message(rendered, "a@example.com", url).raw, policy=policy.default)
    for header in ("Subject", "To", "From", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"):
        assert str(fast[header]) == str(slow[header]), header
    def same(part: str) -> str:  # the email package writes CRLF inside parts, base64 keeps LF
        return part.replace("\r\n", "\n").strip()

    assert same(text_part(fast)) == same(text_part(slow))
    assert same(html_part(fast)) == same(html_part(slow))
    assert fast["Subject"] == "Zprávy: ěščř" and url in text_part(fast)
    assert b"\r\n" in MessageFactory(rendered).build("a@example.com", url).raw
