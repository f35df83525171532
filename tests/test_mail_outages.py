"""Long outages and dying workers: a newsletter through minutes of 451/454, and delivery processes
killed mid-queue while another one works beside them. Nothing is lost, nothing is doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from portal import mail
from portal.extensions import db as _db
from portal.mail.models import Delivery
from portal.newsletter import issues
from portal.newsletter.sender import Sender, SendOptions
from tests.newsletter_support import ROOT, flask_command, make_issue, make_subscribers, subprocess_env

# The issue asked for 90 s; PORTAL_TEST_OUTAGE_SECONDS shortens it on a developer's machine.
OUTAGE = float(os.environ.get("PORTAL_TEST_OUTAGE_SECONDS", "90"))
SUBSCRIBERS = int(os.environ.get("PORTAL_TEST_OUTAGE_SUBSCRIBERS", "2000"))




@pytest.mark.slow
def test_a_newsletter_through_minutes_of_451_and_454_reaches_every_subscriber_once(make_app, faulty):
    app = make_app(MAIL_PORT=faulty.port, MAIL_RETRY_BASE=1, MAIL_RETRY_MAX_DELAY=8)
    with app.app_context():
        emails = make_subscribers(SUBSCRIBERS, prefix="outage")
        issue_id = make_issue()
        # Greylisting-style 451 at RCPT for the whole outage, and SES's throttling 454 at MAIL FROM
        # for its first half: both are "try later", never a reason to give anyone up.
        faulty.temp_fail(451, "4.7.1 Greylisted, try again later", seconds=OUTAGE, at="RCPT")
        faulty.temp_fail(454, "4.7.0 Throttling failure: Maximum sending rate exceeded.", seconds=OUTAGE / 2,
                         at="MAIL")
        issues.start_issue(issue_id)
        started = time.monotonic()
        outcome = Sender(issue_id, SendOptions(max_failures=1000, failure_delay=0.2)).run()
        elapsed = time.monotonic() - started
        _db.session.rollback()
        counts = issues.status_counts(issue_id)
        finished = issues.get_issue(issue_id).finished_at
        most_attempts = _db.session.scalar(select(func.max(Delivery.attempts)))
    assert elapsed >= OUTAGE * 0.9, "the outage did not last"
    assert counts == {"sent": SUBSCRIBERS}, counts
    assert outcome.failed == 0 and outcome.uncertain == 0
    assert finished is not None
    assert most_attempts is not None and most_attempts >= 2  # retried across the outage
    assert all(faulty.delivered_to(email) == 1 for email in emails)


@pytest.mark.slow
def test_killed_delivery_processes_beside_a_live_one_lose_and_double_nothing(make_app, faulty):
    app = make_app(MAIL_PORT=faulty.port)
    count = 1500
    addresses = [f"queued{i}@example.com" for i in range(count)]
    with app.app_context():
        for address in addresses:
            mail.enqueue(address, "Hello", "password_changed", kind="account.password-changed",
                         reset_url="https://x.example/reset")
        _db.session.commit()
        _db.session.remove()
    env: dict[str, Any] = subprocess_env(app, faulty.port)
    # No rate limit: the engine marks the next message ahead while DATA is on the wire, the case
    # where a crash can leave two messages uncertain (the one on the wire and the next).
    env["PORTAL_MAIL_POLL_INTERVAL"] = "0.2"
    command = flask_command("mail", "deliver")
    # A steady worker, and a second one that is SIGKILLed at random points and started again.
    steady = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rng = random.Random()
    kills = 0
    try:
        deadline = time.monotonic() + 60
        while kills < 4 and time.monotonic() < deadline:
            victim = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, 0.6))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            kills += 1

        def settled() -> bool:
            with app.app_context():
                open_rows = _db.session.scalar(select(func.count()).select_from(Delivery)
                                               .where(Delivery.status.in_(("pending", "claimed", "sending"))))
                _db.session.remove()
            return open_rows == 0

        while not settled() and time.monotonic() < deadline + 60:
            time.sleep(0.2)
    finally:
        steady.send_signal(signal.SIGTERM)
        steady.wait(timeout=30)
    assert steady.returncode == 0  # SIGTERM: it finished its message and stopped cleanly
    with app.app_context():
        status = dict(_db.session.execute(select(Delivery.to_addr, Delivery.status)).all())
    uncertain = [a for a, s in status.items() if s == "uncertain"]
    assert set(status.values()) <= {"sent", "uncertain"}, status
    assert len(uncertain) <= 2 * kills
    for address in addresses:
        copies = faulty.delivered_to(address)
        assert copies == (copies if address in uncertain else 1) and copies <= 1, (address, copies)
