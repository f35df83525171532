"""`flask privacy purge` on rows back-dated in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal import personal_data
from portal.accounts.models import LoginAttempt, LoginSession, User
from portal.db import utcnow
from portal.extensions import db
from portal.privacy.models import Inquiry
from tests.factories import make_user


def _user(email, *, confirmed=True, created_days_ago=0):
    return make_user(email, confirmed=confirmed, created_days_ago=created_days_ago, commit=False)


def _inquiry(ref, *, answered_days_ago=None, email="p@example.com"):
    now = utcnow()
    db.session.add(Inquiry(
        reference=ref, topic="access", email=email, email_key=email, message="m",
        created_at=now - timedelta(days=(answered_days_ago or 0) + 5), due_at=now + timedelta(days=20),
        status="open" if answered_days_ago is None else "answered",
        answered_at=None if answered_days_ago is None else now - timedelta(days=answered_days_ago),
    ))


def _seed(app):
    now = utcnow()
    with app.app_context():
        keep = _user("keep@example.com")
        _user("stale-unconfirmed@example.com", confirmed=False, created_days_ago=8)
        fresh_unconfirmed = _user("fresh-unconfirmed@example.com", confirmed=False, created_days_ago=1)
        for days, ip in ((91, "192.0.2.1"), (200, "192.0.2.2"), (89, "192.0.2.3"), (0, "192.0.2.4")):
            db.session.add(LoginAttempt(at=now - timedelta(days=days), ip=ip, user_id=keep.id, email_key="k",
                                        success=True, outcome="success"))
        db.session.add_all([
            LoginSession(token_hash="a" * 64, user_id=keep.id, created_at=now - timedelta(hours=8),
                         last_seen_at=now - timedelta(hours=7), ip="192.0.2.9"),  # idle too long
            LoginSession(token_hash="b" * 64, user_id=keep.id, created_at=now - timedelta(days=2),
                         last_seen_at=now - timedelta(minutes=1), ip="192.0.2.9"),  # past SESSION_MAX_AGE
            LoginSession(token_hash="c" * 64, user_id=keep.id, created_at=now - timedelta(hours=1),
                         last_seen_at=now - timedelta(minutes=5), ip="192.0.2.9"),  # alive
        ])
        _inquiry("DP-OLDANSWR", answered_days_ago=366)
        _inquiry("DP-NEWANSWR", answered_days_ago=364)
        _inquiry("DP-OPENCASE", email="old-but-open@example.com")
        db.session.commit()
        return fresh_unconfirmed.id


def _counts(output):
    counts = {}
    for line in output.strip().splitlines():
        kind, rest = line.split(": ", 1)
        counts[kind] = int(rest.split()[0])
    return counts


def test_purge_deletes_what_is_past_its_time_and_is_idempotent(app, runner):
    _seed(app)
    first = runner.invoke(args=["privacy", "purge"])
    assert first.exit_code == 0, first.output
    counts = _counts(first.output)
    assert counts["login attempts (with IP addresses)"] == 2
    assert counts["expired login sessions"] == 2
    assert counts["unconfirmed accounts"] == 1
    assert counts["answered data-protection inquiries"] == 1
    # One line per registered rule, whoever registered it.
    with app.app_context():
        assert set(counts) == {rule.kind for rule in personal_data.retention_rules(app)}
        assert sorted(db.session.scalars(select(LoginAttempt.ip))) == ["192.0.2.3", "192.0.2.4"]
        assert db.session.scalars(select(LoginSession.token_hash)).all() == ["c" * 64]
        assert sorted(db.session.scalars(select(User.email_key))) == [
            "fresh-unconfirmed@example.com", "keep@example.com"]
        assert sorted(db.session.scalars(select(Inquiry.reference))) == ["DP-NEWANSWR", "DP-OPENCASE"]
    second = runner.invoke(args=["privacy", "purge"])
    assert second.exit_code == 0 and set(_counts(second.output).values()) == {0}


def test_periods_come_from_the_settings(make_app):
    app = make_app(LOGIN_IP_RETENTION_DAYS=30, INQUIRY_RETENTION_DAYS=10)
    _seed(app)
    counts = _counts(app.test_cli_runner().invoke(args=["privacy", "purge"]).output)
    assert counts["login attempts (with IP addresses)"] == 3
    assert counts["answered data-protection inquiries"] == 2


def test_a_failing_rule_does_not_stop_the_others_and_exits_non_zero(app, runner):
    _seed(app)

    def broken() -> int:
        raise RuntimeError("table is locked")

    personal_data.register_retention(app, "zz broken kind", broken)
    try:
        result = runner.invoke(args=["privacy", "purge"])
    finally:
        personal_data.unregister_retention(app, "zz broken kind")
    assert result.exit_code == 1
    assert "zz broken kind: FAILED (RuntimeError: table is locked)" in result.output
    assert "answered data-protection inquiries: 1 deleted" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 2


def test_purging_an_unconfirmed_signup_leaves_the_address_owners_inquiries_alone(app, runner):
    # Someone signs up with another person's address and never confirms; that person's cases stay.
    with app.app_context():
        _user("owner@example.com", confirmed=False, created_days_ago=30)
        _inquiry("DP-OWNERS00", answered_days_ago=3, email="owner@example.com")
        db.session.commit()
    assert "unconfirmed accounts: 1 deleted" in runner.invoke(args=["privacy", "purge"]).output
    with app.app_context():
        kept = db.session.scalars(select(Inquiry)).one()
        assert kept.email == "owner@example.com" and kept.message == "m" and kept.redacted_at is None
