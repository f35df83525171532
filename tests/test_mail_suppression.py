"""Suppression that means something: a permanent refusal stops the newsletter to that address
(with the reason in the person's history and export), while the mail they ask for still goes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import personal_data
from portal.accounts.models import User
from portal.extensions import db as _db
from portal.mail import enqueue, suppression
from portal.mail.feedback_models import Feedback, Suppression, address_hash
from portal.mail.worker import deliver_due
from portal.newsletter import issues
from portal.newsletter.models import Delivery
from portal.newsletter.sender import Sender, SendOptions
from portal.newsletter.subscriptions import change, history, is_subscribed
from tests.newsletter_support import copies_by_recipient, make_issue, make_subscribers

FAST = dict(retry_delay=0.0, failure_delay=0.05)
BOUNCER = "reader0001@example.com"


def _send(issue_id: int, second: bool = False) -> object:
    issues.start_issue(issue_id, second_this_month=second, reason="second issue for the test" if second else None)
    return Sender(issue_id, SendOptions(**FAST)).run()


def _user(email: str) -> User:
    return _db.session.scalars(select(User).where(User.email_key == email)).one()


def test_a_permanent_refusal_suppresses_and_the_next_issue_skips_that_person(app, db, smtp):
    make_subscribers(3)
    smtp.reject.add(BOUNCER)
    first = make_issue("First")
    outcome = _send(first)
    assert outcome.failed == 1  # type: ignore[attr-defined]
    found = suppression.find(BOUNCER)
    assert found is not None and found.reason == "bounce" and found.source == "smtp" and "550" in found.detail
    [report] = _db.session.scalars(select(Feedback)).all()
    assert report.kind == "bounce" and report.issue_id == first
    user = _user(BOUNCER)
    assert not is_subscribed(user)
    assert history(user)[-1].source == "bounce"

    # Even a subscription that says "yes" (an operator's import, say) does not bring the newsletter back.
    smtp.clear()
    from portal.newsletter.subscriptions import set_subscription

    set_subscription(user, True, "admin")
    _db.session.commit()
    second = make_issue("Second")
    _send(second, second=True)
    assert BOUNCER not in copies_by_recipient(smtp.messages)
    assert len(smtp.messages) == 2
    row = _db.session.scalars(select(Delivery).where(Delivery.issue_id == second, Delivery.user_id == user.id)).one()
    assert row.status == "skipped" and "suppressed (bounce)" in (row.last_error or "")

    # The mail the person asks for still goes out.
    enqueue(BOUNCER, "Reset", "password_changed", kind="account.password-changed", user_id=user.id,
            reset_url="https://x.example/reset")
    _db.session.commit()
    smtp.reject.clear()
    deliver_due(app)
    assert len(smtp.to(BOUNCER)) == 1

    # The export shows the suppression and its reason, and the history says why the newsletter stopped.
    document: dict[str, object] = {}
    for handler in personal_data.handlers(app):
        document.update(handler.export(user))
    [shown] = document["mail_suppressions"]["suppressions"]  # type: ignore[index]
    assert shown["reason"] == "bounce" and shown["source"] == "smtp" and shown["address"] == BOUNCER
    assert "hash" in document["mail_suppressions"]["note"]  # type: ignore[index]
    assert any(e["source"] == "bounce" for e in document["newsletter"]["history"])  # type: ignore[index]
    assert any(r["kind"] == "bounce" for r in document["mail_reports"])  # type: ignore[union-attr]


def test_subscribing_again_on_the_preferences_page_lifts_the_suppression(app, db):
    make_subscribers(1)
    user = _user("reader0000@example.com")
    suppression.suppress(user.email, "complaint", "arf", detail="test")
    _db.session.commit()
    assert not is_subscribed(user)
    change(user, True, "preferences")
    assert is_subscribed(user) and suppression.find(user.email) is None
    assert "lifted" in history(user)[-1].note


def test_erasure_keeps_only_a_hash_of_a_suppressed_address(app, db):
    make_subscribers(1)
    user = _user("reader0000@example.com")
    suppression.suppress("Reader0000@Example.com", "bounce", "dsn", detail="5.1.1 no such user")
    _db.session.commit()
    for handler in personal_data.handlers(app):
        handler.erase(user)
    _db.session.delete(user)
    _db.session.commit()
    [row] = _db.session.scalars(select(Suppression)).all()
    assert (row.address, row.user_id, row.detail) == (None, None, "")
    assert row.address_hash == address_hash("reader0000@example.com") and row.reason == "bounce"
    # A new account with the same address still gets no bulk mail.
    assert suppression.suppressed_among(["READER0000@example.com"]) == {"reader0000@example.com": "bounce"}


@pytest.mark.parametrize(("reply", "suppressed"), [
    ("550 5.1.1 Mailbox unavailable", True),
    ("550 5.2.1 Mailbox disabled", True),
    ("554 no valid recipients", True),
    ("552 5.2.3 Message too big", False),
    ("554 5.7.1 Relay access denied", False),  # our relay configuration, not the address
    ("550 5.7.26 Unauthenticated email is not accepted", False),  # our DKIM/DMARC, not the address
    ("", False),
])
def test_only_refusals_that_blame_the_address_suppress(reply, suppressed):
    from portal.mail.feedback import is_address_failure

    assert is_address_failure(reply) is suppressed


def test_a_policy_refusal_at_rcpt_fails_the_copy_but_suppresses_nobody(app, db, smtp):
    from tests.faultsmtp import FaultSMTP

    server = FaultSMTP()
    server.start()
    try:
        app.config["MAIL_PORT"] = server.port
        emails = make_subscribers(2)
        server.reject(emails[0])  # 554 5.7.1 Rejected
        outcome = _send(make_issue())
        assert outcome.failed == 1  # type: ignore[attr-defined]
        assert suppression.find(emails[0]) is None and is_subscribed(_user(emails[0]))
    finally:
        server.stop()
