"""The console is 404 to everyone but staff, and the audit log only grows."""

from __future__ import annotations

from tests.accounts_support import PASSWORD, login
from tests.factories import make_user


def _account(app, email: str, admin: bool = False) -> None:
    from portal.extensions import db

    with app.test_request_context("/"):
        make_user(email, password=PASSWORD, admin=admin)
        db.session.remove()


def test_console_is_404_to_anonymous_and_ordinary_accounts(app, client):
    assert client.get("/staff").status_code == 404
    _account(app, "someone@example.org")
    assert login(client, "someone@example.org").status_code in (302, 303)
    assert client.get("/staff").status_code == 404
    assert client.get("/staff/no-such-page").status_code == 404


def test_console_opens_for_staff(app, client):
    from portal.extensions import db
    from tests.mfa_support import give_authenticator

    _account(app, "boss@example.org", admin=True)
    login(client, "boss@example.org")  # before the second factor: a plain password sign-in
    with app.test_request_context("/"):
        give_authenticator(1)
        db.session.remove()
    response = client.get("/staff")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


def test_audit_log_records_in_the_callers_transaction(app):
    from portal.extensions import db
    from portal.staff import audit_log

    with app.test_request_context("/"):
        staff = make_user("boss@example.org", admin=True, commit=False)
        audit_log.record(staff, "person.lookup", "someone@example.org", "reason: inquiry 12")
        db.session.rollback()
        assert audit_log.recent() == []
        staff = make_user("boss@example.org", admin=True)
        audit_log.record(staff, "person.lookup", "someone@example.org", "reason: inquiry 12")
        db.session.commit()
        assert [e.action for e in audit_log.recent()] == ["person.lookup"]
