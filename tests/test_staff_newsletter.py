"""The newsletter from the console: 404 to everyone but staff; compose -> preview -> test copy ->
schedule, and the scheduled issue goes out once at its time even when every process is replaced;
pause and resume mid-send; the monthly cap refused from the console exactly as from the CLI; the
uncertain review; and an audit entry for every POST."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update

from portal.db import utcnow, write_transaction
from portal.extensions import db as _db
from portal.mail.models import HELD, SENT, UNCERTAIN, Delivery
from portal.mail.worker import Worker, deliver_due
from portal.newsletter import schedule
from portal.newsletter.models import Issue
from portal.newsletter.sender import Sender, SendOptions
from portal.staff.models import StaffAction
from tests.accounts_support import login
from tests.newsletter_support import copies_by_recipient, make_issue, make_subscribers
from tests.staff_console_support import STAFF, account, console_urls, issue_id_from, post, sign_in_again, staff_client


def _actions(app) -> list[str]:
    with app.app_context():
        names = [a.action for a in _db.session.scalars(select(StaffAction).order_by(StaffAction.id))]
        _db.session.remove()
    return names


def _issue(app, issue_id: int) -> Issue:
    with app.app_context():
        issue = _db.session.get(Issue, issue_id)
        assert issue is not None
        _db.session.expunge(issue)
        _db.session.remove()
    return issue


def _subscribers(app, count: int, prefix: str = "reader") -> list[str]:
    with app.app_context():
        emails = make_subscribers(count, prefix)
        _db.session.remove()
    return emails


def test_every_console_url_is_404_to_anonymous_and_ordinary_accounts(app):
    urls = console_urls(app)
    assert len(urls) >= 15
    client = app.test_client()
    for method, path in urls:
        assert client.open(path, method=method).status_code == 404, (method, path)
    account(app, "someone@example.org")
    assert login(client, "someone@example.org").status_code in (302, 303)
    for method, path in urls:
        assert client.open(path, method=method).status_code == 404, (method, path)


def test_compose_preview_test_copy_schedule_and_one_copy_each_across_a_restart(make_app, smtp):
    app_a = make_app()
    readers = _subscribers(app_a, 5)
    client = staff_client(app_a)

    created = post(client, "/staff/newsletter/new", {"subject": "December news", "body": "# Hello\n\n**Snow** soon."})
    assert created.status_code == 302
    issue_id = issue_id_from(created)

    # The preview: the email's own HTML, with its inline styles allowed in that frame only.
    shown = post(client, "/staff/newsletter/preview", {"subject": "December news", "body": "**Snow** soon."})
    assert shown.status_code == 200
    assert "<strong>Snow</strong>" in shown.get_data(as_text=True) and 'style="' in shown.get_data(as_text=True)
    assert "style-src-attr 'unsafe-inline'" in shown.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in shown.headers["Content-Security-Policy"]
    page = client.get(f"/staff/newsletter/{issue_id}")
    assert "frame-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]

    # A test copy to the staff member, through the engine; the issue does not start.
    assert post(client, f"/staff/newsletter/{issue_id}/test").status_code == 302
    (test_copy,) = smtp.to(STAFF)
    assert str(test_copy["Subject"]) == "[TEST] December news"
    assert _issue(app_a, issue_id).started_at is None

    # Scheduled through the form (local time, minute precision) a few minutes ahead...
    when = (utcnow() + timedelta(minutes=5)).astimezone(schedule_zone(app_a))
    scheduled = post(client, f"/staff/newsletter/{issue_id}/schedule", {"at-when": when.strftime("%Y-%m-%dT%H:%M")},
                     page=f"/staff/newsletter/{issue_id}")
    assert scheduled.status_code == 302
    stored = _issue(app_a, issue_id)
    assert stored.scheduled_at is not None and stored.started_at is None
    with app_a.app_context():
        deliver_due(app_a)  # a worker pass before its time: nothing starts
    assert _issue(app_a, issue_id).started_at is None and len(smtp.messages) == 1

    # ...then its time comes while no process of app A is left: every process is new.
    with app_a.app_context():
        _db.session.execute(update(Issue).where(Issue.id == issue_id)
                            .values(scheduled_at=utcnow() - timedelta(seconds=1)))
        _db.session.commit()
        _db.session.remove()
        _db.engine.dispose()
    del client, app_a
    app_b, app_c = make_app(), make_app()
    workers = [Worker(app_b), Worker(app_c), Worker(app_b), Worker(app_c)]
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(worker: Worker) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                worker.run_once()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    copies = copies_by_recipient([m for m in smtp.messages if "[TEST]" not in str(m["Subject"])])
    assert copies == {reader: 1 for reader in readers}
    issue = _issue(app_b, issue_id)
    assert issue.started_at is not None and issue.cap_slot == 1 and issue.finished_at is not None


def schedule_zone(app):
    from zoneinfo import ZoneInfo

    return ZoneInfo(app.config["TIMEZONE"])


def test_pause_and_resume_mid_send(make_app, smtp):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    readers = _subscribers(app, 6)
    client = staff_client(app)
    with app.app_context():
        issue_id = make_issue()
        _db.session.remove()
    assert post(client, f"/staff/newsletter/{issue_id}/send").status_code == 302
    assert smtp.messages == []
    pauser = app.test_client()
    sign_in_again(app, pauser, like=client)
    paused = {"done": False}

    def progress(outcome: str) -> None:
        if outcome == SENT and not paused["done"]:
            paused["done"] = True
            assert post(pauser, f"/staff/newsletter/{issue_id}/pause").status_code == 302

    with app.app_context():
        Sender(issue_id, SendOptions(wait=False), progress).run()
        _db.session.remove()
    sent_before = len(smtp.messages)
    assert 1 <= sent_before <= 2  # the one sent, and at most the one already being handed over
    with app.app_context():
        held = _db.session.scalar(select(_db.func.count()).select_from(Delivery).where(Delivery.status == HELD))
        _db.session.remove()
    assert held == 6 - sent_before
    assert _issue(app, issue_id).paused_at is not None
    page = client.get(f"/staff/newsletter/{issue_id}/progress").get_data(as_text=True)
    assert "Resume sending" in page
    for _ in range(2):
        deliver_due(app)  # other workers, while paused: nothing goes out
    assert len(smtp.messages) == sent_before

    assert post(client, f"/staff/newsletter/{issue_id}/resume").status_code == 302
    deliver_due(app)
    deliver_due(app)
    assert copies_by_recipient(smtp.messages) == {reader: 1 for reader in readers}
    assert _issue(app, issue_id).finished_at is not None
    assert _actions(app)[-3:] == ["newsletter.send", "newsletter.pause", "newsletter.resume"] or \
        _actions(app)[-2:] == ["newsletter.pause", "newsletter.resume"]


def test_a_pause_holds_copies_an_engine_puts_back_during_it(app, db, smtp):
    """A temporary failure during the pause puts a copy back to pending; the next tick holds it."""
    make_subscribers(2)
    issue_id = make_issue()
    from portal.newsletter import issues

    issues.start_issue(issue_id)
    issue = db.session.get(Issue, issue_id)
    with write_transaction():
        schedule.pause(issue)
    db.session.execute(update(Delivery).where(Delivery.issue_id == issue_id).values(status="pending"))
    db.session.commit()
    schedule.tick(app)
    statuses = set(db.session.scalars(select(Delivery.status).where(Delivery.issue_id == issue_id)))
    assert statuses == {HELD}


def test_the_cap_is_refused_from_the_console_as_from_the_cli(make_app, smtp):
    app = make_app(NEWSLETTER_MONTHLY_LIMIT=1)
    _subscribers(app, 2)
    client = staff_client(app)
    with app.app_context():
        first, second, third = make_issue("One"), make_issue("Two"), make_issue("Three")
        _db.session.remove()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["newsletter", "send", str(first)]).exit_code == 0

    # The second issue of the month: the page asks for the reason before one tries.
    page = client.get(f"/staff/newsletter/{second}").get_data(as_text=True)
    assert "reason" in page.lower() and 'name="now-second_this_month"' in page
    refused = post(client, f"/staff/newsletter/{second}/send", page=f"/staff/newsletter/{second}")
    assert refused.status_code == 302
    assert "Refused" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert _issue(app, second).started_at is None
    cli = runner.invoke(args=["newsletter", "send", str(second)])
    assert cli.exit_code != 0 and "Refused" in cli.output
    no_reason = post(client, f"/staff/newsletter/{second}/send", {"now-second_this_month": "y"},
                     page=f"/staff/newsletter/{second}")
    assert no_reason.status_code == 302 and _issue(app, second).started_at is None
    allowed = post(client, f"/staff/newsletter/{second}/send",
                   {"now-second_this_month": "y", "now-reason": "A correction to issue one"},
                   page=f"/staff/newsletter/{second}")
    assert allowed.status_code == 302
    assert _issue(app, second).second_reason == "A correction to issue one"

    # A third: never, with or without a reason, from either side; not even scheduled this month.
    third_try = post(client, f"/staff/newsletter/{third}/send",
                     {"now-second_this_month": "y", "now-reason": "Please"}, page=f"/staff/newsletter/{third}")
    assert third_try.status_code == 302 and _issue(app, third).started_at is None
    cli = runner.invoke(args=["newsletter", "send", str(third), "--second-this-month", "--reason", "Please"])
    assert cli.exit_code != 0 and "third is never" in cli.output
    soon = (utcnow() + timedelta(minutes=2)).astimezone(schedule_zone(app))
    with app.app_context():
        from portal.newsletter import issues

        same_month = issues.month_of(soon) == issues.month_of(utcnow())
        _db.session.remove()
    if same_month:
        post(client, f"/staff/newsletter/{third}/schedule",
             {"at-when": soon.strftime("%Y-%m-%dT%H:%M"), "at-second_this_month": "y", "at-reason": "Please"},
             page=f"/staff/newsletter/{third}")
        assert _issue(app, third).scheduled_at is None
    assert "newsletter.send-refused" in _actions(app)


def test_a_scheduled_issue_the_cap_refuses_at_its_time_says_why_and_is_not_retried(app, db, smtp):
    make_subscribers(1)
    first, second = make_issue("One"), make_issue("Two")
    issue = db.session.get(Issue, second)
    schedule.schedule(issue, utcnow() + timedelta(minutes=1), False, None)
    db.session.commit()
    from portal.newsletter import issues

    issues.start_issue(first)  # meanwhile, from the CLI
    db.session.execute(update(Issue).where(Issue.id == second).values(scheduled_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert schedule.start_due(app) == []
    issue = db.session.get(Issue, second, populate_existing=True)
    assert issue.started_at is None and schedule.state(issue) == "refused"
    # The rule is stored, not the CLI's English sentence: staff read why in their own language.
    assert issue.schedule_error == "limit"
    assert schedule.start_due(app) == []


def test_why_a_scheduled_issue_was_refused_reads_in_the_staff_language(make_app, smtp):
    app = make_app()
    client = staff_client(app)
    with app.app_context():
        refused, legacy = make_issue("Refused"), make_issue("Legacy")
        _db.session.execute(update(Issue).where(Issue.id == refused).values(schedule_error="limit"))
        # A row stored before codes: the sentence as it was, not a blank.
        _db.session.execute(update(Issue).where(Issue.id == legacy).values(schedule_error="Refused: old words."))
        _db.session.commit()
    english = client.get(f"/staff/newsletter/{refused}").get_data(as_text=True)
    assert "The monthly limit was already reached" in english and "NEWSLETTER_MONTHLY_LIMIT" not in english
    czech = client.get(f"/staff/newsletter/{refused}?lang=cs").get_data(as_text=True)
    assert "Měsíční limit už byl vyčerpán" in czech and "The monthly limit" not in czech
    assert "Refused: old words." in client.get(f"/staff/newsletter/{legacy}").get_data(as_text=True)


def test_uncertain_copies_are_reviewed_one_by_one(make_app, smtp):
    app = make_app()
    readers = _subscribers(app, 2)
    client = staff_client(app)
    with app.app_context():
        issue_id = make_issue()
        _db.session.remove()
    post(client, f"/staff/newsletter/{issue_id}/send")
    assert len(smtp.messages) == 2
    with app.app_context():
        _db.session.execute(update(Delivery).where(Delivery.issue_id == issue_id)
                            .values(status=UNCERTAIN, last_error="no reply after DATA"))
        _db.session.commit()
        ids = list(_db.session.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id).order_by(Delivery.id)))
        _db.session.remove()
    smtp.clear()
    page = client.get(f"/staff/newsletter/{issue_id}/progress").get_data(as_text=True)
    assert readers[0] in page and readers[1] in page
    progress_page = f"/staff/newsletter/{issue_id}/progress"
    post(client, f"/staff/newsletter/{issue_id}/review", {"delivery": str(ids[0]), "decision": "delivered"},
         page=progress_page)
    post(client, f"/staff/newsletter/{issue_id}/review", {"delivery": str(ids[1]), "decision": "resend"},
         page=progress_page)
    assert [str(m["To"]) for m in smtp.messages] == [readers[1]]
    again = post(client, f"/staff/newsletter/{issue_id}/review", {"delivery": str(ids[1]), "decision": "resend"},
                 page=progress_page)
    assert again.status_code == 302 and len(smtp.messages) == 1  # no longer uncertain: nothing happens
    with app.app_context():
        assert set(_db.session.scalars(select(Delivery.status).where(Delivery.issue_id == issue_id))) == {SENT}
        _db.session.remove()
    assert _actions(app)[-2:] == ["newsletter.uncertain-delivered", "newsletter.uncertain-resend"]


def test_every_post_records_an_audit_entry(make_app, smtp):
    app = make_app(NEWSLETTER_MONTHLY_LIMIT=2, TEST_DELIVER_AFTER_REQUEST=False)  # still sending when paused
    _subscribers(app, 1)
    client = staff_client(app)
    issue_id = issue_id_from(post(client, "/staff/newsletter/new", {"subject": "S", "body": "B"}))
    page = f"/staff/newsletter/{issue_id}"
    when = (utcnow() + timedelta(days=3)).astimezone(schedule_zone(app)).strftime("%Y-%m-%dT%H:%M")
    steps = [
        (f"/staff/newsletter/{issue_id}/edit", {"subject": "S2", "body": "B2"}, "newsletter.edit"),
        (f"/staff/newsletter/{issue_id}/test", {}, "newsletter.test-send"),
        (f"/staff/newsletter/{issue_id}/schedule", {"at-when": when}, "newsletter.schedule"),
        (f"/staff/newsletter/{issue_id}/unschedule", {}, "newsletter.unschedule"),
        (f"/staff/newsletter/{issue_id}/send", {}, "newsletter.send"),
        (f"/staff/newsletter/{issue_id}/pause", {}, "newsletter.pause"),
        (f"/staff/newsletter/{issue_id}/resume", {}, "newsletter.resume"),
        (f"/staff/newsletter/{issue_id}/retry", {}, "newsletter.retry"),
        ("/staff/mail/retry", {"which": "failed"}, "mail.retry"),
    ]
    for path, data, action in steps:
        response = post(client, path, data, page=page)
        assert response.status_code == 302, (path, response.get_data(as_text=True)[:500])
        assert _actions(app)[-1] == action, (path, _actions(app))
    assert _actions(app)[0] == "newsletter.create"
    with app.app_context():
        entry = _db.session.scalars(select(StaffAction).order_by(StaffAction.id.desc())).first()
        assert entry is not None and entry.staff_email == STAFF
        _db.session.remove()
    # Without the CSRF token nothing happens and nothing is recorded.
    count = len(_actions(app))
    assert client.post(f"/staff/newsletter/{issue_id}/pause").status_code == 400
    assert len(_actions(app)) == count


def test_progress_json_and_the_refresh_without_javascript(make_app, smtp):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    _subscribers(app, 3)
    client = staff_client(app)
    with app.app_context():
        issue_id = make_issue()
        _db.session.remove()
    post(client, f"/staff/newsletter/{issue_id}/send")
    figures = client.get(f"/staff/newsletter/{issue_id}/progress.json").get_json()
    assert figures["pending"] == 3 and figures["sent"] == 0 and figures["state"] == "sending"
    page = client.get(f"/staff/newsletter/{issue_id}/progress").get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh"' in page
    deliver_due(app)
    figures = client.get(f"/staff/newsletter/{issue_id}/progress.json").get_json()
    assert figures["sent"] == 3 and figures["done_percent"] == 100
    assert figures["rate_per_minute"] > 0 and figures["eta_minutes"] == 0


def test_subscribers_per_week_and_feedback_rates(make_app, smtp):
    from portal.mail import feedback
    from portal.mail.feedback_models import COMPLAINED, HARD_BOUNCE
    from portal.newsletter import console_ops
    from portal.newsletter.models import SubscriptionEvent

    app = make_app()
    readers = _subscribers(app, 4)
    client = staff_client(app)
    with app.app_context():
        # Two joined three weeks ago, one of them left last week; the other two joined now.
        events = list(_db.session.scalars(select(SubscriptionEvent).order_by(SubscriptionEvent.id)))
        old = utcnow() - timedelta(weeks=3)
        for event in events[:2]:
            event.at = old
        _db.session.add(SubscriptionEvent(user_id=events[0].user_id, at=utcnow() - timedelta(weeks=1),
                                          subscribed=False, source="preferences"))
        _db.session.add(SubscriptionEvent(user_id=events[1].user_id, at=utcnow(), subscribed=True, source="admin"))
        _db.session.commit()
        weeks = console_ops.subscriber_weeks(weeks=5)
        _db.session.remove()
    assert [w.subscribed for w in weeks][-4:] == [2, 2, 1, 3]
    assert sum(w.joined for w in weeks) == 4 and sum(w.left for w in weeks) == 1  # the repeat is not a join
    with app.app_context():
        issue_id = make_issue()
        _db.session.remove()
    post(client, f"/staff/newsletter/{issue_id}/send")
    with app.app_context():
        ids = list(_db.session.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id).order_by(Delivery.id)))
        feedback.apply(feedback.Report(HARD_BOUNCE, "dsn", delivery_id=ids[0]))
        feedback.apply(feedback.Report(COMPLAINED, "arf", delivery_id=ids[1]))
        _db.session.commit()
        _db.session.remove()
    page = client.get("/staff/newsletter/statistics").get_data(as_text=True)
    assert "1 (25.00 %)" in page and "too high" in page
    assert not any(reader in page for reader in readers)  # aggregates only
