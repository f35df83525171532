"""The sender against the real aiosmtpd sink: headers, exactly-once, skips, failures, concurrency."""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from portal.extensions import db as _db
from portal.newsletter import issues
from portal.newsletter.models import Delivery
from portal.newsletter.sender import Paused, Sender, SendOptions
from portal.newsletter.subscriptions import change, set_subscription
from tests.helpers import html_part, path_of, text_part
from tests.newsletter_support import copies_by_recipient, make_issue, make_subscribers, make_user

FAST = dict(retry_delay=0.0, failure_delay=0.05)


def _send(issue_id: int, **options) -> object:  # type: ignore[no-untyped-def]
    issues.start_issue(issue_id)
    return Sender(issue_id, SendOptions(**{**FAST, **options})).run()


def test_every_message_has_the_list_headers_and_both_parts(app, db, smtp):
    emails = make_subscribers(3)
    issue_id = make_issue()
    outcome = _send(issue_id)
    assert outcome.sent == 3
    messages = smtp.wait_for(3)
    assert sorted(copies_by_recipient(messages)) == emails
    for message in messages:
        unsubscribe = message["List-Unsubscribe"]
        assert unsubscribe.startswith("<http://127.0.0.1:8000/newsletter/unsubscribe/") and unsubscribe.endswith(">")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Id"] == '"Portal newsletter" <newsletter.127.0.0.1>'
        assert any(part.get_content_type() == "multipart/alternative" for part in message.walk())
        url = unsubscribe[1:-1]
        assert url in text_part(message) and url.replace("&", "&amp;") in html_part(message)
        assert "<strong>news</strong>" in html_part(message)
        assert "http://127.0.0.1:8000/privacy" in text_part(message)
    # Each recipient's link is their own.
    assert len({m["List-Unsubscribe"] for m in messages}) == 3


def test_one_click_link_from_the_email_works_without_cookies(app, db, smtp):
    make_user("ann@example.com")
    issue_id = make_issue()
    _send(issue_id)
    url = smtp.wait_for(1)[0]["List-Unsubscribe"][1:-1]
    client = app.test_client(use_cookies=False)
    response = client.post(path_of(url), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers or "session=" not in response.headers["Set-Cookie"]
    assert not _subscribed("ann@example.com")


def _subscribed(email: str) -> bool:
    from portal.accounts.models import User
    from portal.newsletter.subscriptions import is_subscribed

    return is_subscribed(_db.session.scalar(select(User).where(User.email_key == email)))


def test_unconfirmed_and_unsubscribed_accounts_get_nothing(app, db, smtp):
    make_user("yes@example.com")
    make_user("unconfirmed@example.com", confirmed=False)
    make_user("never@example.com", subscribed=False)
    gone = make_user("gone@example.com")
    set_subscription(gone, False, "preferences")
    _db.session.commit()
    issue_id = make_issue()
    outcome = _send(issue_id)
    assert outcome.sent == 1
    time.sleep(0.2)
    assert list(copies_by_recipient(smtp.messages)) == ["yes@example.com"]


def test_a_rerun_sends_nothing_twice(app, db, smtp):
    make_subscribers(5)
    issue_id = make_issue()
    _send(issue_id)
    again = Sender(issue_id, SendOptions(**FAST)).run()
    assert again.sent == 0
    smtp.wait_for(5)
    time.sleep(0.2)
    assert set(copies_by_recipient(smtp.messages).values()) == {1}
    assert issues.get_issue(issue_id).finished_at is not None


def test_unsubscribe_during_a_send_skips_the_rest(app, db, smtp):
    emails = make_subscribers(20)
    issue_id = make_issue()
    issues.start_issue(issue_id)
    late = emails[-5:]
    seen: list[str] = []

    def progress(outcome: str) -> None:
        seen.append(outcome)
        if len(seen) == 3:
            # Another request (its own session) unsubscribes five people mid-send.
            _unsubscribe_in_other_thread(app, late)

    outcome = Sender(issue_id, SendOptions(**FAST), progress).run()
    assert outcome.sent == 15 and outcome.skipped == 5
    time.sleep(0.2)
    received = copies_by_recipient(smtp.messages)
    assert not set(late) & set(received)
    assert issues.status_counts(issue_id) == {"sent": 15, "skipped": 5}


def _unsubscribe_in_other_thread(app, emails: list[str]) -> None:  # type: ignore[no-untyped-def]
    from portal.accounts.models import User

    def work() -> None:
        with app.app_context():
            for email in emails:
                user = _db.session.scalar(select(User).where(User.email_key == email))
                change(user, False, "email-link")
            _db.session.remove()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=20)


def test_a_permanent_refusal_is_final_at_once(app, db, smtp):
    make_subscribers(3)
    smtp.reject.add("reader0001@example.com")
    issue_id = make_issue()
    outcome = _send(issue_id)
    assert outcome.sent == 2 and outcome.failed == 1
    row = _db.session.scalars(select(Delivery).where(Delivery.status == "failed")).one()
    # A 5xx for a recipient is the server's final word: no second attempt, the reason kept.
    assert row.attempts == 1 and row.last_error.startswith("550")
    problems = issues.problem_deliveries(issue_id, ("failed",))
    assert problems[0][1] == "reader0001@example.com"


def test_smtp_down_pauses_then_resumes(make_app, smtp):
    from tests.helpers import free_port

    app = make_app(MAIL_PORT=free_port())  # nothing listens there: the server is "down"
    with app.app_context():
        make_subscribers(4)
        issue_id = make_issue()
        issues.start_issue(issue_id)
        with pytest.raises(Paused, match="run the same command again"):
            Sender(issue_id, SendOptions(max_failures=3, failure_delay=0.01)).run()
        assert issues.status_counts(issue_id) == {"pending": 4}
    up = make_app(create_schema=False)  # same database, the server is back
    with up.app_context():
        outcome = Sender(issue_id, SendOptions(**FAST)).run()
        assert outcome.sent == 4
    smtp.wait_for(4)


def test_two_concurrent_senders_split_the_work_without_duplicates(app, db, smtp):
    make_subscribers(60)
    issue_id = make_issue()
    issues.start_issue(issue_id)
    outcomes: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                outcomes.append(Sender(issue_id, SendOptions(batch_size=5, rate=300, **FAST)).run())
            except BaseException as error:  # reported below; a thread must not swallow it
                errors.append(error)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    smtp.wait_for(60)
    time.sleep(0.2)
    counts = copies_by_recipient(smtp.messages)
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert sorted(o.sent for o in outcomes)[0] > 0  # both did part of the work
    assert sum(o.sent for o in outcomes) == 60


def test_raw_message_headers_are_on_one_line(app, db, smtp):
    make_user("raw@example.com")
    issue_id = make_issue()
    _send(issue_id)
    message = smtp.wait_for(1)[0]
    raw = message.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_each_message_costs_one_marking_statement_on_postgresql(app, db, smtp, backend):
    # PostgreSQL marks the previous message "sent" and this one "sending" in one autocommit
    # statement (the benchmark's throughput depends on it); SQLite keeps its local transaction.
    from sqlalchemy import event

    emails = make_subscribers(6)
    issue_id = make_issue()
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        outcome = _send(issue_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert outcome.sent == len(emails) and copies_by_recipient(smtp.messages) == dict.fromkeys(emails, 1)
    combined = [s for s in statements if "sent_before" in s]
    assert len(combined) == (len(emails) if backend == "postgresql" else 0)
