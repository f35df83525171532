"""People: exact-address lookup with a reason, the access log in the person's own export, erasure
of that log with the person, sessions and newsletter from the console."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from tests.helpers import PASSWORD, csrf_token
from tests.staff_support import STAFF, account, actions, post, signed_in, staff_client


def _look(staff, email, reason="inquiry DP-ABCD2345"):
    return post(staff, "/staff/people", {"email": email, "reason": reason}, token_from="/staff/people")


def _own_export(client):
    """The person's own export, as they download it (right after sign-in no password is asked)."""
    response = client.get("/account/export")
    if response.mimetype != "application/json":
        token = csrf_token(client, "/account/export")
        response = client.post("/account/export", data={"csrf_token": token, "password": PASSWORD})
    assert response.status_code == 200 and response.mimetype == "application/json"
    return json.loads(response.get_data(as_text=True))



def test_only_the_exact_address_finds_an_account_and_a_reason_is_required(app, smtp):
    person_id = account(app, "Person@Example.com")
    staff = staff_client(app)
    for partial in ("person", "person@", "@example.com", "erson@example.com", "person@example", "*"):
        response = _look(staff, partial)
        assert response.status_code == 400, partial
        assert "person@example.com" not in response.get_data(as_text=True).lower()
    no_reason = _look(staff, "person@example.com", reason="  ")
    assert no_reason.status_code == 400 and "Say why you need to look" in no_reason.get_data(as_text=True)
    short = _look(staff, "person@example.com", reason="x")
    assert short.status_code == 400 and "at least" in short.get_data(as_text=True)
    missing = _look(staff, "nobody@example.com")
    assert missing.status_code == 400 and "No account has that address" in missing.get_data(as_text=True)
    found = _look(staff, "  PERSON@example.COM ")  # normalised like a sign-in: case and spaces
    assert found.status_code == 303 and "person" not in found.headers["Location"].lower().replace("people", "")
    page = staff.get(found.headers["Location"]).get_data(as_text=True)
    assert "Person@example.com" in page and "inquiry DP-ABCD2345" in page and "Not subscribed" in page
    # The audit log never holds a typed address: the account id, or "no account".
    *misses, hit = actions(app)
    assert hit == ("person.lookup", f"account {person_id}", "")
    assert misses and set(misses) == {("person.lookup", "no account", "")}
    assert not any("example" in s or "example" in d for _a, s, d in actions(app))


def test_every_lookup_appears_in_the_persons_own_export(app, smtp):
    account(app, "person@example.com")
    person = signed_in(app, "person@example.com", create=False)
    staff = staff_client(app)
    _look(staff, "person@example.com", "inquiry DP-ABCD2345")
    _look(staff, "person@example.com", "support call about the newsletter")
    looks = _own_export(person)["staff_access_log"]
    assert [(e["staff"], e["reason"], e["viewed"]) for e in looks] == [
        (STAFF, "inquiry DP-ABCD2345", "account"),
        (STAFF, "support call about the newsletter", "account"),
    ]
    assert all(e["at"] for e in looks)


def test_a_look_is_the_staff_members_own_and_ends(app, smtp):
    from portal.staff.models import StaffAccess

    account(app, "person@example.com")
    staff = staff_client(app)
    location = _look(staff, "person@example.com").headers["Location"]
    colleague = signed_in(app, "colleague@example.org", admin=True)
    assert colleague.get(location).status_code == 404  # another's look is not theirs to reuse
    assert staff.get("/staff/people/look/999999").status_code == 404
    assert staff.get("/staff/people/look/%EF%BC%91").status_code == 404
    with app.app_context():
        entry = db.session.scalars(select(StaffAccess)).one()
        entry.at = entry.at - timedelta(minutes=16)
        db.session.commit()
    assert staff.get(location).status_code == 404


def test_end_sessions_and_suppress_and_restore_the_newsletter(app, smtp):
    from portal.accounts.models import LoginSession
    from portal.mail import suppression
    from portal.newsletter.subscriptions import is_subscribed

    person_id = account(app, "person@example.com", subscribed=True)
    person = signed_in(app, "person@example.com", create=False)
    staff = staff_client(app)
    location = _look(staff, "person@example.com").headers["Location"]
    page = staff.get(location).get_data(as_text=True)
    assert "Subscribed" in page and "Sign out every session" in page
    assert post(staff, location + "/sessions", token_from=location).status_code == 303
    with app.app_context():
        assert db.session.scalars(select(LoginSession).where(LoginSession.user_id == person_id)).all() == []
    assert person.get("/account").status_code == 302  # signed out
    assert post(staff, location + "/newsletter", {"action": "suppress"}, token_from=location).status_code == 303
    with app.app_context():
        from portal.accounts.models import User

        user = db.session.get(User, person_id)
        assert not is_subscribed(user) and suppression.find("person@example.com") is not None
    assert "address suppressed" in staff.get(location).get_data(as_text=True)
    assert post(staff, location + "/newsletter", {"action": "restore"}, token_from=location).status_code == 303
    with app.app_context():
        user = db.session.get(User, person_id)
        # Lifted, but not subscribed again: that consent is the person's to give.
        assert suppression.find("person@example.com") is None and not is_subscribed(user)
    assert post(staff, location + "/newsletter", {"action": "bogus"}, token_from=location).status_code == 400
    assert [a[0] for a in actions(app)] == ["person.lookup", "person.sessions-ended",
                                             "person.newsletter-suppressed", "person.newsletter-restored"]


def test_erasure_deletes_the_access_log_and_the_audit_log_keeps_no_address(app, smtp):
    from portal.staff.models import StaffAccess

    account(app, "person@example.com")
    person = signed_in(app, "person@example.com", create=False)
    staff = staff_client(app)
    _look(staff, "person@example.com", "Jan Novák called about person@example.com")
    token = csrf_token(person, "/account/data")
    assert person.post("/account/delete", data={"csrf_token": token, "password": PASSWORD}).status_code == 303
    with app.app_context():
        assert db.session.scalars(select(StaffAccess)).all() == []
    [(action, subject, detail)] = actions(app)
    assert action == "person.lookup" and "example.com" not in subject + detail and "Novák" not in detail


def test_a_staff_members_own_actions_are_in_their_export(app, smtp):
    account(app, "person@example.com")
    staff = staff_client(app)
    _look(staff, "person@example.com")
    document = _own_export(staff)
    assert [a["action"] for a in document["staff_actions"]] == ["person.lookup"]


def test_an_erased_staff_members_entries_stay_without_their_address(app, smtp):
    from portal.staff.models import CaseFile, StaffAccess, StaffAction
    from tests.staff_support import seed_inquiry

    account(app, "person@example.com")
    seed_inquiry(app)
    staff = staff_client(app)
    _look(staff, "person@example.com")
    with app.app_context():
        from portal.accounts.models import User

        staff_id = db.session.scalar(select(User.id).where(User.email_key == STAFF))
    post(staff, "/staff/desk/DP-CASE0001/case", {"assignee": str(staff_id), "notes": ""})
    token = csrf_token(staff, "/account/data")
    assert staff.post("/account/delete", data={"csrf_token": token, "password": PASSWORD}).status_code == 303
    with app.app_context():
        entries = db.session.scalars(select(StaffAction)).all()
        erased = f"erased account {staff_id}"
        assert entries and all(e.staff_id is None and e.staff_email == erased for e in entries)
        [look] = db.session.scalars(select(StaffAccess)).all()  # the person still sees that someone looked
        assert look.staff_id is None and look.staff_email == erased
        assert db.session.scalars(select(CaseFile)).one().assignee_id is None
