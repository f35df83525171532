"""Per-account throttling: progressive delay, an hourly cap, no lock-out of the owner, no enumeration."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select, update

from portal.accounts.models import LoginAttempt
from portal.db import utcnow
from tests.accounts_support import (
    create_user,
    db_exec,
    db_rows,
    link_from,
    login,
    normalise_page,
    set_ip,
)
from tests.helpers import PASSWORD, post_form

WRONG = "a wrong guess of a password"
ATTACKER = "198.51.100.66"


def _fail(app, email, n, ip=ATTACKER):
    return [login(set_ip(app.test_client(), ip), email, WRONG).status_code for _ in range(n)]


def _shift_attempts(app, seconds):
    """Move every recorded attempt ``seconds`` into the past, as if that time had gone by."""
    from portal.accounts.models import User

    for user in db_rows(app, select(User.id, User.password_changed_at)):
        db_exec(
            app,
            update(User)
            .where(User.id == user.id)
            .values(password_changed_at=user.password_changed_at - timedelta(seconds=seconds)),
        )
    rows = db_rows(app, select(LoginAttempt.id, LoginAttempt.at))
    for row in rows:
        db_exec(
            app, update(LoginAttempt).where(LoginAttempt.id == row.id).values(at=row.at - timedelta(seconds=seconds))
        )


def test_failures_against_one_account_get_a_progressive_delay(app, smtp):
    create_user(app, "vic@example.com")
    assert _fail(app, "vic@example.com", 5) == [400] * 5
    throttled = login(set_ip(app.test_client(), ATTACKER), "vic@example.com", PASSWORD)
    assert throttled.status_code == 429  # even the right password waits: guessing must not go on
    assert 1 <= int(throttled.headers["Retry-After"]) <= 2
    assert "Too many failed sign-in attempts for this address" in throttled.get_data(as_text=True)

    _shift_attempts(app, 3)  # the 2 s delay has passed
    assert _fail(app, "vic@example.com", 1) == [400]
    throttled = login(set_ip(app.test_client(), ATTACKER), "vic@example.com", WRONG)
    assert throttled.status_code == 429 and 3 <= int(throttled.headers["Retry-After"]) <= 4  # doubled
    # Refused (throttled) attempts are recorded but do not lengthen the wait.
    outcomes = [r.outcome for r in db_rows(app, select(LoginAttempt.outcome).order_by(LoginAttempt.id))]
    assert outcomes == ["failure"] * 5 + ["throttled", "failure", "throttled"]


def test_at_most_100_failures_an_hour_per_account(app, smtp):
    create_user(app, "vic@example.com")
    create_user(app, "wes@example.com")
    _shift_attempts(app, 2 * 3600)  # accounts whose passwords were set a while ago
    now = utcnow()

    def failures(email, count):
        # Spread over the last hour, the newest 20 minutes ago: the progressive delay (at most
        # 15 minutes) has run out, so only the hourly cap can still say no.
        key = _key(app, email)
        rows = [
            {
                "at": now - timedelta(minutes=58) + timedelta(seconds=20 * i),
                "ip": ATTACKER,
                "email_key": key,
                "success": False,
                "outcome": "failure",
            }
            for i in range(count)
        ]
        rows[-1]["at"] = now - timedelta(minutes=20)
        _insert(app, rows)

    failures("vic@example.com", 99)
    failures("wes@example.com", 100)
    assert _fail(app, "vic@example.com", 1) == [400]  # the 100th failure of the hour is still allowed
    for email in ("vic@example.com", "wes@example.com"):  # the 101st is not
        response = login(set_ip(app.test_client(), ATTACKER), email, WRONG)
        assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 14 * 60, email


def test_the_owners_known_address_is_not_locked_out(app, smtp):
    create_user(app, "vic@example.com")
    owner_ip = "203.0.113.20"
    assert login(set_ip(app.test_client(), owner_ip), "vic@example.com").status_code == 302
    assert _fail(app, "vic@example.com", 6) == [400] * 5 + [429]
    # The attacker is held back (even with the right password), while the owner signs in from the
    # address they used before.
    assert login(set_ip(app.test_client(), ATTACKER), "vic@example.com").status_code == 429
    assert login(set_ip(app.test_client(), owner_ip), "vic@example.com").status_code == 302


def test_a_password_reset_clears_the_throttle(app, smtp):
    create_user(app, "vic@example.com")
    assert _fail(app, "vic@example.com", 6)[-1] == 429
    post_form(set_ip(app.test_client(), "203.0.113.30"), "/reset-password", {"email": "vic@example.com"})
    path = link_from(smtp, "vic@example.com", "/reset-password/")
    new_password = "seven lazy otters under the bridge"
    assert post_form(app.test_client(), path, {"password": new_password}).status_code == 302
    assert login(set_ip(app.test_client(), "203.0.113.31"), "vic@example.com", new_password).status_code == 302


def test_unknown_addresses_are_throttled_exactly_the_same(app, smtp, monkeypatch):
    from portal.accounts import throttle

    create_user(app, "vic@example.com")
    known = _fail(app, "vic@example.com", 6, ip="198.51.100.70")
    unknown = _fail(app, "ghost@example.com", 6, ip="198.51.100.71")
    assert known == unknown == [400] * 5 + [429]
    # Retry-After counts down from each account's last failure, and the two series ran some
    # requests apart (on a loaded machine, across a second's boundary): put both histories at one
    # instant and hold the throttle's clock, so only what the portal tells apart could differ.
    instant = db_rows(app, select(func.max(LoginAttempt.at)).where(LoginAttempt.outcome == "failure"))[0][0]
    db_exec(app, update(LoginAttempt).where(LoginAttempt.outcome == "failure").values(at=instant))
    monkeypatch.setattr(throttle, "utcnow", lambda: instant + timedelta(milliseconds=250))
    pages = []
    for email, ip in (("vic@example.com", "198.51.100.70"), ("ghost@example.com", "198.51.100.71")):
        response = login(set_ip(app.test_client(), ip), email, WRONG)
        pages.append(
            (
                response.status_code,
                response.headers["Retry-After"],
                normalise_page(response.get_data(as_text=True)).replace(email, "EMAIL"),
            )
        )
    assert pages[0] == pages[1]


def test_the_throttle_is_per_account_not_global(app, smtp):
    create_user(app, "vic@example.com")
    create_user(app, "wes@example.com")
    assert _fail(app, "vic@example.com", 6)[-1] == 429
    assert login(set_ip(app.test_client(), "198.51.100.80"), "wes@example.com").status_code == 302


def test_every_attempt_is_recorded_without_storing_strangers_addresses(app, smtp):
    uid = create_user(app, "vic@example.com")
    login(set_ip(app.test_client(), "192.0.2.1"), "vic@example.com", WRONG)
    login(set_ip(app.test_client(), "192.0.2.2"), "stranger@example.com", WRONG)
    login(set_ip(app.test_client(), "192.0.2.3"), "vic@example.com")
    rows = db_rows(app, select(LoginAttempt).order_by(LoginAttempt.id))
    attempts = [r[0] for r in rows]
    assert [(a.ip, a.user_id, a.success) for a in attempts] == [
        ("192.0.2.1", uid, False),
        ("192.0.2.2", None, False),
        ("192.0.2.3", uid, True),
    ]
    assert all("@" not in a.email_key and len(a.email_key) == 64 for a in attempts)
    assert all(a.at is not None for a in attempts)


def _key(app, email):
    from portal.accounts import service

    with app.test_request_context("/"):
        return service.attempt_key(email)


def _insert(app, rows):
    from portal.extensions import db

    with app.app_context():
        db.session.execute(insert(LoginAttempt), rows)
        db.session.commit()
        db.session.remove()
