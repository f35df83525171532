"""The monthly cap: 1 by default, 2 with the flag and a reason, never 3 — also under concurrent starts
and against code that skips the checks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db as _db
from portal.newsletter import issues
from portal.newsletter.models import Issue
from tests.newsletter_support import make_issue, make_subscribers


def _concurrent_starts(app, issue_ids: list[int], **kwargs) -> tuple[list[int], list[str]]:  # type: ignore[no-untyped-def]
    """Start every issue at the same moment, one thread (own session and connection) each."""
    barrier = threading.Barrier(len(issue_ids))
    started: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()

    def start(issue_id: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                issues.start_issue(issue_id, **kwargs)
                with lock:
                    started.append(issue_id)
            except issues.CapError as error:
                with lock:
                    refused.append(str(error))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=start, args=(i,)) for i in issue_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return started, refused


def test_one_per_month_under_concurrent_starts(app, db):
    make_subscribers(3)
    ids = [make_issue(f"Issue {n}") for n in range(4)]
    started, refused = _concurrent_starts(app, ids)
    assert len(started) == 1 and len(refused) == 3
    assert "The next issue may go out from" in refused[0]
    assert "--second-this-month" in refused[0]


def test_second_needs_the_flag_and_a_reason_and_a_third_never(app, db):
    make_subscribers(1)
    ids = [make_issue(f"Issue {n}") for n in range(5)]
    issues.start_issue(ids[0])
    with pytest.raises(issues.CapError, match="needs --reason"):
        issues.start_issue(ids[1], second_this_month=True)
    started, refused = _concurrent_starts(app, ids[1:], second_this_month=True, reason="security notice")
    assert len(started) == 1 and len(refused) == 3
    assert all("a third is never allowed" in message for message in refused)
    second = _db.session.get(Issue, started[0])
    assert second.cap_slot == 2 and second.second_reason == "security notice"


def test_a_third_is_refused_even_with_the_limit_raised_to_two(make_app):
    app = make_app(NEWSLETTER_MONTHLY_LIMIT=2)
    with app.app_context():
        make_subscribers(1)
        ids = [make_issue(f"Issue {n}") for n in range(3)]
        issues.start_issue(ids[0])
        issues.start_issue(ids[1])  # the configured limit allows two without the flag
        with pytest.raises(issues.CapError, match="third is never allowed"):
            issues.start_issue(ids[2], second_this_month=True, reason="really")
        _db.session.remove()


def test_starting_the_same_issue_twice_resumes_it(app, db):
    make_subscribers(2)
    issue_id = make_issue()
    first = issues.start_issue(issue_id)
    again = issues.start_issue(issue_id)
    assert first.started_now and first.recipients == 2
    assert not again.started_now and again.recipients == 2
    assert issues.status_counts(issue_id) == {"pending": 2}


def test_an_issue_with_nobody_to_send_to_does_not_use_up_the_month(app, db):
    first, second = make_issue("Nobody"), make_issue("Somebody")
    with pytest.raises(issues.IssueError, match="Nobody is subscribed"):
        issues.start_issue(first)
    assert issues.get_issue(first).started_at is None
    make_subscribers(1)
    assert issues.start_issue(second).slot == 1


def test_the_database_refuses_a_third_slot_even_when_the_code_is_bypassed(app, db):
    ids = [make_issue(f"Issue {n}") for n in range(3)]
    now = datetime.now(UTC)
    for slot, issue_id in enumerate(ids[:2], start=1):
        _db.session.execute(
            update(Issue).where(Issue.id == issue_id).values(started_at=now, started_month="2030-01", cap_slot=slot)
        )
    _db.session.commit()
    for bad_slot in (1, 2, 3):
        with pytest.raises(IntegrityError):
            values = {"started_at": now, "started_month": "2030-01", "cap_slot": bad_slot}
            _db.session.execute(update(Issue).where(Issue.id == ids[2]).values(**values))
            _db.session.flush()
        _db.session.rollback()
    with pytest.raises(IntegrityError):  # started without a slot
        _db.session.execute(update(Issue).where(Issue.id == ids[2]).values(started_at=now))
        _db.session.flush()
    _db.session.rollback()


def test_the_month_is_the_calendar_month_in_timezone(app, db):
    # 23:30 UTC on 31 January is already 1 February in Prague.
    moment = datetime(2030, 1, 31, 23, 30, tzinfo=UTC)
    assert issues.month_of(moment) == "2030-02"
    assert issues.next_month_start(moment).strftime("%Y-%m-%d") == "2030-03-01"
