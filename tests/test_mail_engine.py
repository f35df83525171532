"""The delivery engine against a mail server that misbehaves on purpose (tests/faultsmtp.py).

Every account flow and the inquiry form answer the same whether SMTP is up or down, and what they
queued arrives once SMTP returns; 4xx is retried, 5xx is final, a lost reply after the end of DATA
is uncertain and never resent on its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from portal import mail
from portal.db import utcnow
from portal.extensions import db
from portal.mail.engine import Engine, Options, next_due
from portal.mail.models import Delivery
from portal.mail.worker import deliver_due, worker_for
from tests.accounts_support import create_user, logged_in_client, post_account_form, set_ip
from tests.faultsmtp import FaultSMTP
from tests.helpers import PASSWORD, csrf_token, post_form, text_part
from tests.privacy_support import send_inquiry

DPO = "dpo@portal.example"




@pytest.fixture
def mail_app(make_app: Callable[..., Any], faulty: FaultSMTP) -> Any:
    return make_app(MAIL_PORT=faulty.port, DPO_EMAIL=DPO, MAIL_TIMEOUT=2)


def rows(app: Any) -> list[Delivery]:
    with app.app_context():
        found = list(db.session.scalars(select(Delivery).where(Delivery.status != "void").order_by(Delivery.id)))
        db.session.expunge_all()
        return found


def drain(app: Any, done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Run the engine, and again whenever a retry falls due, until ``done()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliver_due(app)
        if done():
            return
        with app.app_context():
            due = next_due()
            db.session.remove()
        time.sleep(0.02 if due is None else min(0.5, max(0.01, (due - utcnow()).total_seconds())))
    raise AssertionError(f"not done after {timeout} s: {[(r.kind, r.status, r.last_error) for r in rows(app)]}")


def queue(app: Any, count: int, prefix: str = "person") -> list[str]:
    addresses = [f"{prefix}{i}@example.com" for i in range(count)]
    with app.app_context():
        for address in addresses:
            mail.enqueue(address, "Hello", "password_changed", kind="account.password-changed",
                         reset_url="https://x.example/reset")
        db.session.commit()
    return addresses


# --- SMTP down: the person's answer is the same, and nothing is lost ------------------------------


def test_every_flow_answers_the_same_while_smtp_is_down_and_all_mail_arrives_once(mail_app, faulty):
    create_user(mail_app, "member@example.com")
    create_user(mail_app, "pending@example.com", confirmed=False)
    faulty.refuse_connections(True)

    browser = set_ip(mail_app.test_client(), "192.0.2.10")
    signup = post_form(browser, "/signup", {"email": "new@example.com", "password": PASSWORD})
    assert signup.status_code in (200, 302, 303), signup.status_code
    assert post_form(browser, "/reset-password", {"email": "member@example.com"}).status_code == 303
    assert post_form(browser, "/confirm/resend", {"email": "pending@example.com"}).status_code == 303
    assert send_inquiry(browser, "asker@exämple.org").status_code == 200
    member = logged_in_client(mail_app, "member@example.com", ip="192.0.2.11")
    changed = post_account_form(member, "/account/password",
                                {"current_password": PASSWORD, "new_password": PASSWORD + " and more"})
    assert changed.status_code == 302, changed.get_data(as_text=True)

    waiting = rows(mail_app)
    assert {r.status for r in waiting} == {"pending"} and all(r.attempts >= 1 for r in waiting)
    expected = {"new@example.com": 1, "member@example.com": 2, "pending@example.com": 1, DPO: 1,
                "asker@xn--exmple-cua.org": 1}
    faulty.refuse_connections(False)
    drain(mail_app, lambda: all(faulty.delivered_to(a) >= n for a, n in expected.items()))
    drain(mail_app, lambda: True)  # one more pass: nothing else is left to go
    for address, count in expected.items():
        assert faulty.delivered_to(address) == count, address
    assert {r.status for r in rows(mail_app)} == {"sent"}


def test_a_failing_mail_server_never_makes_signup_a_500(mail_app, faulty):
    faulty.temp_fail(451, seconds=None, at="RCPT")
    browser = mail_app.test_client()
    response = post_form(browser, "/signup", {"email": "new@example.com", "password": PASSWORD})
    assert response.status_code in (200, 302, 303)
    faulty.clear()
    faulty.reject("new@example.com")
    again = post_form(mail_app.test_client(), "/signup", {"email": "new@example.com", "password": PASSWORD})
    assert again.status_code in (200, 302, 303)


# --- what the server's answer means ------------------------------------------------------------------


@pytest.mark.parametrize(("code", "text", "stage"), [
    (451, "4.3.0 Try again later", "RCPT"),
    (454, "4.7.0 Throttling failure: Maximum sending rate exceeded.", "MAIL"),
    (421, "4.7.0 Too many connections, closing", "RCPT"),
    (421, "4.3.2 Shutting down", "DATA"),
    (452, "4.2.2 Mailbox full", "DATA"),
])
def test_a_temporary_refusal_is_retried_and_delivered_once(mail_app, faulty, code, text, stage):
    faulty.temp_fail(code, text, seconds=None, at=stage)
    addresses = queue(mail_app, 3)
    deliver_due(mail_app)  # every message meets the refusal at least once
    assert {r.status for r in rows(mail_app)} == {"pending"}
    faulty.clear()  # the server recovers (nothing had been accepted, so nothing is forgotten)
    drain(mail_app, lambda: all(faulty.delivered_to(a) == 1 for a in addresses))
    final = rows(mail_app)
    assert {r.status for r in final} == {"sent"}  # never "uncertain": nothing was handed over
    assert final[0].attempts >= 2
    assert all(r.smtp_reply and r.smtp_reply.startswith("250") for r in final)


def test_a_permanent_refusal_fails_that_recipient_only(mail_app, faulty, runner):
    faulty.reject("person1@example.com", code=554, text="5.7.1 Rejected by policy")
    queue(mail_app, 3)
    deliver_due(mail_app)
    status = {r.to_addr: r for r in rows(mail_app)}
    assert status["person1@example.com"].status == "failed" and status["person1@example.com"].attempts == 1
    assert status["person1@example.com"].last_error == "554 5.7.1 Rejected by policy"
    assert status["person0@example.com"].status == status["person2@example.com"].status == "sent"
    report = mail_app.test_cli_runner().invoke(args=["mail", "status"])
    assert report.exit_code == 0
    assert "failed: #" in report.output and status["person1@example.com"].message_id in report.output


@pytest.mark.parametrize("fault", ["drop", "hang"])
def test_a_lost_reply_after_data_is_uncertain_and_never_resent_on_its_own(mail_app, faulty, fault):
    if fault == "drop":
        faulty.drop_after_data(count=1)
    else:
        faulty.hang_after_data(4, count=1)  # longer than MAIL_TIMEOUT=2
    queue(mail_app, 1)
    deliver_due(mail_app)
    [row] = rows(mail_app)
    assert row.status == "uncertain" and "no reply" in (row.last_error or "")
    assert faulty.delivered_to("person0@example.com") == 1  # the server did keep it
    for _ in range(3):
        deliver_due(mail_app)
    assert faulty.delivered_to("person0@example.com") == 1
    cli = mail_app.test_cli_runner()
    assert "uncertain" in cli.invoke(args=["mail", "status"]).output
    # Only an operator's explicit choice sends it again.
    assert cli.invoke(args=["mail", "retry", "--uncertain"]).exit_code == 0
    deliver_due(mail_app)
    assert faulty.delivered_to("person0@example.com") == 2


def test_temporary_failures_give_up_after_the_retry_period(make_app, faulty):
    app = make_app(MAIL_PORT=faulty.port, MAIL_RETRY_FOR=60)
    faulty.temp_fail(451, seconds=None)
    queue(app, 1)
    deliver_due(app)
    with app.app_context():
        db.session.execute(update(Delivery).values(expires_at=utcnow() - timedelta(seconds=1),
                                                   next_attempt_at=utcnow()))
        db.session.commit()
    deliver_due(app)
    [row] = rows(app)
    assert row.status == "failed" and row.last_error.startswith("gave up after 2 attempt(s)")
    assert "451" in row.last_error


# --- messages a strict server accepts ------------------------------------------------------------------


def test_an_inquiry_with_a_long_line_reaches_the_dpo_through_a_strict_server(mail_app, faulty):
    faulty.max_line_length(998)
    response = send_inquiry(mail_app.test_client(), "long@example.com", message="x" * 1500 + "\nend")
    assert response.status_code == 200
    [notice] = [m for m in faulty.messages if DPO in str(m["To"])]
    assert "x" * 1500 in text_part(notice).replace("\r\n", "\n")


def test_an_internationalised_domain_reaches_the_dpo_with_a_reply_to(mail_app, faulty):
    assert send_inquiry(mail_app.test_client(), "x@exämple.org").status_code == 200
    [notice] = [m for m in faulty.messages if DPO in str(m["To"])]
    assert "x@xn--exmple-cua.org" in str(notice["Reply-To"])
    assert faulty.delivered_to("x@exämple.org") == 1  # the acknowledgement too


def test_a_non_ascii_local_part_is_refused_at_the_form_without_smtputf8(mail_app, faulty):
    browser = mail_app.test_client()
    response = post_form(browser, "/signup", {"email": "jürgen@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "before the @" in response.get_data(as_text=True)
    assert rows(mail_app) == []


def test_a_non_ascii_local_part_is_delivered_with_smtputf8_when_the_relay_offers_it(make_app, faulty):
    app = make_app(MAIL_PORT=faulty.port, MAIL_SMTPUTF8=True)
    response = post_form(app.test_client(), "/signup", {"email": "jürgen@example.com", "password": PASSWORD})
    assert response.status_code == 303
    assert faulty.delivered_to("jürgen@example.com") == 1
    assert "SMTPUTF8" in faulty.envelopes[-1][2]
    # A relay that stops offering it: a clear, final reason instead of a crash or a silent loss.
    faulty.offer_smtputf8(False)
    post_form(app.test_client(), "/reset-password", {"email": "jürgen@example.com"})
    last = rows(app)[-1]
    assert last.status == "failed" and "SMTPUTF8" in (last.last_error or "")


# --- workers ------------------------------------------------------------------------------------------


def test_the_web_process_delivers_within_two_seconds_of_the_commit(make_app, faulty):
    app = make_app(MAIL_PORT=faulty.port, MAIL_WORKER_THREADS=1, TEST_DELIVER_AFTER_REQUEST=False,
                   MAIL_POLL_INTERVAL=5)
    try:
        browser = app.test_client()
        token = csrf_token(browser, "/signup")
        started = time.monotonic()
        response = browser.post("/signup", data={"csrf_token": token, "email": "quick@example.com",
                                                  "password": PASSWORD})
        assert faulty.messages == []  # not during the request: the wake waits for the response
        response.close()  # what every WSGI server does once the response has gone out (PEP 3333)
        faulty.wait_for(1, timeout=2.0)  # woken then, not by the 5 s poll
        assert time.monotonic() - started < 2.0
    finally:
        worker_for(app).shutdown()


def test_the_engine_commits_its_marks_durably_on_sqlite(mail_app, faulty, backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL commits are durable by default")
    queue(mail_app, 2)
    levels: list[int] = []
    with mail_app.app_context():
        engine = Engine(mail_app, Options())
        engine.progress = lambda status: levels.append(engine.synchronous_level())
        engine.run()
        db.session.remove()
    assert levels == [2, 2]  # FULL: a "sending" mark survives a power cut


def test_a_dpo_notification_stuck_in_the_queue_fails_the_audit(mail_app, faulty):
    faulty.refuse_connections(True)
    assert send_inquiry(mail_app.test_client(), "asker@example.com").status_code == 200
    with mail_app.app_context():
        db.session.execute(update(Delivery).values(created_at=utcnow() - timedelta(hours=2)))
        db.session.commit()
    result = mail_app.test_cli_runner().invoke(args=["privacy", "audit"])
    assert result.exit_code == 1
    assert "FAIL dpo-notifications" in result.output or "dpo-notifications" in result.output
    line = next(line for line in result.output.splitlines() if "dpo-notifications" in line)
    assert "FAIL" in line and "undelivered" in line


def test_mail_deliver_once_and_status_from_the_command_line(mail_app, faulty):
    queue(mail_app, 2)
    cli = mail_app.test_cli_runner()
    before = cli.invoke(args=["mail", "status"])
    assert "account.password-changed" in before.output and " 2 " in before.output
    done = cli.invoke(args=["mail", "deliver", "--once"])
    assert done.exit_code == 0 and "2 sent" in done.output
    assert cli.invoke(args=["mail", "retry"]).exit_code != 0  # says what to re-queue
    assert faulty.delivered_to("person0@example.com") == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs processes")
def test_outbox_folder_without_mail_server_is_the_same_engine(make_app, tmp_path):
    app = make_app(MAIL_SERVER=None)
    queue(app, 1)
    deliver_due(app)
    [row] = rows(app)
    assert row.status == "sent" and row.raw is None  # the body goes once delivered
    assert len(list((tmp_path / "instance" / "outbox").glob("*.eml"))) == 1


def test_mail_rate_holds_across_engines_sharing_the_store(make_app, faulty):
    app = make_app(MAIL_PORT=faulty.port, MAIL_RATE=20)
    queue(app, 40)
    started = time.monotonic()
    from tests.helpers import run_together

    run_together(lambda i: deliver_due(app), 2)  # two workers at once, one budget
    elapsed = time.monotonic() - started
    assert len(faulty.messages) == 40
    assert elapsed >= 1.0, elapsed  # 40 messages at 20/s in fixed one-second windows: at least 1 s


def test_newsletter_retry_requeues_failed_copies_of_the_same_issue(app, db, faulty):
    from portal.newsletter import issues
    from tests.newsletter_support import make_issue, make_subscribers

    app.config["MAIL_PORT"] = faulty.port
    emails = make_subscribers(3)
    issue_id = make_issue()
    faulty.reject(emails[1])
    cli = app.test_cli_runner()
    first = cli.invoke(args=["newsletter", "send", str(issue_id)])
    assert first.exit_code == 1 and "1 copies failed" in first.output
    assert issues.get_issue(issue_id).finished_at is not None
    assert [faulty.delivered_to(e) for e in emails] == [1, 0, 1]
    faulty.clear()  # the server accepts that address again (and forgets what it received)
    again = cli.invoke(args=["newsletter", "retry", str(issue_id)])
    assert again.exit_code == 0 and "1 failed copies" in again.output
    resent = cli.invoke(args=["newsletter", "send", str(issue_id)])  # resumes: the cap is not asked again
    assert resent.exit_code == 0, resent.output
    assert [faulty.delivered_to(e) for e in emails] == [0, 1, 0]  # only the failed copy went again
    status = cli.invoke(args=["newsletter", "status", str(issue_id)])
    assert "sent       3" in status.output


def test_a_message_of_an_unknown_kind_waits_instead_of_being_dropped(mail_app, faulty):
    with mail_app.app_context():
        now = utcnow()
        db.session.add(Delivery(kind="from-a-newer-version", status="pending", user_id=None, issue_id=None,
                                created_at=now, next_attempt_at=now, expires_at=now + timedelta(days=1),
                                updated_at=now))
        db.session.commit()
    outcome = deliver_due(mail_app)
    [row] = rows(mail_app)
    assert row.status == "pending" and outcome.skipped == 0
