"""Destructive console actions need a recent re-authentication (``portal.mfa.reauth``): send now,
schedule, end a person's sessions, suppress their newsletter, erase a person. A staff member whose
last check is older than REAUTH_SECONDS is sent to /account/confirm and nothing happens; after
confirming, the same post works. The erasure's own password field counts as the check."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

from sqlalchemy import select, update

from portal.accounts.models import LoginSession, User
from portal.db import utcnow
from portal.extensions import db
from portal.newsletter.models import Issue
from tests.helpers import PASSWORD, csrf_token
from tests.newsletter_support import make_issue, make_subscribers
from tests.staff_console_support import post as console_post
from tests.staff_console_support import staff_client as console_staff
from tests.staff_support import account, actions, post, seed_inquiry


def _stale(app) -> None:
    with app.app_context():
        older = utcnow() - timedelta(seconds=app.config["REAUTH_SECONDS"] + 1)
        db.session.execute(update(LoginSession).values(reauthenticated_at=older))
        db.session.commit()
        db.session.remove()


def _sent_to_confirm(response, back: str) -> bool:
    location = unquote(response.headers.get("Location", ""))
    return response.status_code == 303 and location.endswith(f"/account/confirm?next={back}")


def _confirm(client) -> None:
    token = csrf_token(client, "/account/confirm")
    assert client.post("/account/confirm", data={"csrf_token": token, "password": PASSWORD}).status_code == 303


def _issue(app, issue_id: int) -> Issue:
    with app.app_context():
        issue = db.session.get(Issue, issue_id)
        assert issue is not None
        db.session.expunge(issue)
        db.session.remove()
    return issue


def _new_issue(app) -> int:
    with app.app_context():
        make_subscribers(2, "reader")
        issue_id = make_issue()
        db.session.remove()
    return issue_id


def test_send_now_needs_a_recent_check(make_app, smtp):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    issue_id = _new_issue(app)
    client = console_staff(app)
    page = f"/staff/newsletter/{issue_id}"
    token = csrf_token(client, page)
    _stale(app)
    refused = client.post(f"{page}/send", data={"now-csrf_token": token})
    assert _sent_to_confirm(refused, page), refused.headers.get("Location")
    assert _issue(app, issue_id).started_at is None and "newsletter.send" not in [a for a, _s, _d in actions(app)]
    _confirm(client)
    assert console_post(client, f"{page}/send", page=page).status_code == 302
    assert _issue(app, issue_id).started_at is not None


def test_scheduling_needs_a_recent_check(make_app, smtp):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    issue_id = _new_issue(app)
    client = console_staff(app)
    page = f"/staff/newsletter/{issue_id}"
    when = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    token = csrf_token(client, page)
    _stale(app)
    refused = client.post(f"{page}/schedule", data={"at-csrf_token": token, "at-when": when})
    assert _sent_to_confirm(refused, page)
    assert _issue(app, issue_id).scheduled_at is None
    _confirm(client)
    assert console_post(client, f"{page}/schedule", {"at-when": when}, page=page).status_code == 302
    assert _issue(app, issue_id).scheduled_at is not None


def _person_page(app, staff) -> str:
    found = post(staff, "/staff/people", {"email": "person@example.com", "reason": "inquiry DP-ABCD2345"},
                 token_from="/staff/people")
    assert found.status_code == 303
    return found.headers["Location"].replace("http://localhost", "")


def _live_sessions(app, user_id: int) -> int:
    with app.app_context():
        count = len(db.session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)).all())
        db.session.remove()
    return count


def test_ending_a_persons_sessions_needs_a_recent_check(app, smtp):
    from tests.staff_support import signed_in

    person_id = account(app, "person@example.com")
    signed_in(app, "person@example.com", create=False)
    staff = console_staff(app)
    page = _person_page(app, staff)
    token = csrf_token(staff, page)
    _stale(app)
    refused = staff.post(f"{page}/sessions", data={"csrf_token": token})
    assert _sent_to_confirm(refused, page)
    assert _live_sessions(app, person_id) == 1
    _confirm(staff)
    assert post(staff, f"{page}/sessions", token_from=page).status_code == 303
    assert _live_sessions(app, person_id) == 0


def test_suppressing_a_persons_newsletter_needs_a_recent_check(app, smtp):
    account(app, "person@example.com", subscribed=True)
    staff = console_staff(app)
    page = _person_page(app, staff)
    token = csrf_token(staff, page)
    _stale(app)
    refused = staff.post(f"{page}/newsletter", data={"csrf_token": token, "action": "suppress"})
    assert _sent_to_confirm(refused, page)
    assert "person.newsletter-suppress" not in [a for a, _s, _d in actions(app)]
    assert "Not subscribed" not in staff.get(page).get_data(as_text=True)
    _confirm(staff)
    assert post(staff, f"{page}/newsletter", {"action": "suppress"}, token_from=page).status_code == 303
    assert "suppressed" in staff.get(page).get_data(as_text=True).lower()


def _person_exists(app, person_id: int) -> bool:
    with app.app_context():
        found = db.session.get(User, person_id) is not None
        db.session.remove()
    return found


def test_erasing_a_person_needs_a_recent_check_or_the_password_in_the_form(app, smtp):
    person_id = account(app, "person@example.com")
    seed_inquiry(app, user_id=person_id)
    staff = console_staff(app)
    case = "/staff/desk/DP-CASE0001"
    token = csrf_token(staff, case)
    _stale(app)
    # Without the form's password field: to /account/confirm, nothing erased.
    refused = staff.post(f"{case}/erase", data={"csrf_token": token})
    assert _sent_to_confirm(refused, case)
    # A wrong password typed in the form is no check: refused, nothing erased, still stale.
    wrong = staff.post(f"{case}/erase", data={"csrf_token": token, "password": "not my password"})
    assert wrong.status_code == 400 and _person_exists(app, person_id)
    assert _sent_to_confirm(staff.post(f"{case}/erase", data={"csrf_token": token}), case)
    # The right password in the form is the re-authentication: the erasure goes through.
    assert staff.post(f"{case}/erase", data={"csrf_token": token, "password": PASSWORD}).status_code == 303
    assert not _person_exists(app, person_id)


def test_erasing_after_confirming_elsewhere(app, smtp):
    person_id = account(app, "person@example.com")
    seed_inquiry(app, user_id=person_id)
    staff = console_staff(app)
    case = "/staff/desk/DP-CASE0001"
    _stale(app)
    assert _sent_to_confirm(post(staff, f"{case}/erase", token_from=case), case)
    _confirm(staff)
    assert post(staff, f"{case}/erase", {"password": PASSWORD}, token_from=case).status_code == 303
    assert not _person_exists(app, person_id)
