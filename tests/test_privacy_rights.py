"""/account/export and /account/delete: password, CSRF, completeness by model enumeration."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from portal import personal_data
from portal.accounts.models import LoginSession, User
from portal.db import utcnow
from portal.extensions import db
from portal.privacy import inquiries, rights
from portal.privacy.models import Inquiry
from tests.helpers import PASSWORD, Auth, csrf_token, text_part
from tests.privacy_support import REFERENCE, browser, registered_client, send_inquiry, user_id

VICTIM = "Victim@Example.com"
VICTIM_IP = "203.0.113.7"


@pytest.fixture
def client(app):
    return browser(app)


def _stale(app, email):
    with app.app_context():
        uid = user_id(app, email)
        stale = utcnow() - timedelta(hours=1)
        db.session.execute(update(LoginSession).where(LoginSession.user_id == uid).values(reauthenticated_at=stale))
        db.session.commit()


# --- export ----------------------------------------------------------------------------------


def test_export_needs_a_login(client):
    response = client.get("/account/export")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_fresh_login_gets_the_json_attachment_with_every_section(app, smtp):
    client = registered_client(app, smtp, VICTIM, ip=VICTIM_IP)
    send_inquiry(client, VICTIM, "access", "Please send me my data.")
    response = client.get("/account/export")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert "no-store" in response.headers["Cache-Control"]
    document = json.loads(response.get_data(as_text=True))
    assert document["version"] == 1 and document["exported_at"]
    assert document["account"]["email"] == "Victim@example.com"
    assert any(s["ip"] == VICTIM_IP for s in document["sessions"])
    assert any(a["ip"] == VICTIM_IP and a["success"] for a in document["login_attempts"])
    [inquiry] = document["inquiries"]
    assert inquiry["message"] == "Please send me my data." and REFERENCE.fullmatch(inquiry["reference"])
    with app.app_context():
        user = db.session.get(User, user_id(app, VICTIM))
        assert user.password_hash not in response.get_data(as_text=True)
        # Every registered handler's sections are in the document.
        for handler in personal_data.handlers(app):
            assert set(handler.export(user)) <= set(document), handler.name
    assert "password_hash" not in response.get_data(as_text=True)


def test_stale_session_asks_for_the_password_first(app, smtp):
    client = registered_client(app, smtp, VICTIM)
    _stale(app, VICTIM)
    form = client.get("/account/export")
    assert form.status_code == 200 and form.mimetype == "text/html"
    assert 'name="password"' in form.get_data(as_text=True)
    assert client.post("/account/export", data={"password": PASSWORD}).status_code == 400  # no CSRF
    token = csrf_token(client, "/account/export")
    wrong = client.post("/account/export", data={"csrf_token": token, "password": "not my password"})
    assert wrong.status_code == 400 and "Your password is not correct." in wrong.get_data(as_text=True)
    assert wrong.mimetype == "text/html"
    long = client.post("/account/export", data={"csrf_token": token, "password": "x" * 5000})
    assert long.status_code == 400 and "too long" in long.get_data(as_text=True)
    good = client.post("/account/export", data={"csrf_token": token, "password": PASSWORD})
    assert good.status_code == 200 and good.mimetype == "application/json"
    assert json.loads(good.get_data(as_text=True))["account"]["email"] == "Victim@example.com"
    # The check is fresh now: the next download needs no password.
    assert client.get("/account/export").mimetype == "application/json"


def test_reauthentication_window_is_the_setting(make_app, smtp):
    app = make_app(EXPORT_REAUTH_SECONDS=60)
    client = registered_client(app, smtp, VICTIM)
    with app.app_context():
        db.session.execute(update(LoginSession).values(reauthenticated_at=utcnow() - timedelta(seconds=120)))
        db.session.commit()
    assert client.get("/account/export").mimetype == "text/html"


def test_account_page_offers_export_and_delete(app, smtp):
    client = registered_client(app, smtp, VICTIM)
    assert 'href="/account/data"' in client.get("/account").get_data(as_text=True)  # its own section
    page = client.get("/account/data").get_data(as_text=True)
    assert 'href="/account/export"' in page
    assert 'action="/account/delete"' in page and 'id="delete-password"' in page


# --- completeness by model enumeration -------------------------------------------------------


def test_every_model_referencing_users_has_a_handler(app):
    with app.app_context():
        assert personal_data.unhandled_models(app) == set()
        assert Inquiry in personal_data.covered_models(app)


def test_a_new_model_referencing_users_without_a_handler_is_caught(app):
    with app.app_context():
        class PrivacyThrowaway(db.Model):  # type: ignore[name-defined]
            __tablename__ = "privacy_test_throwaway"
            id: Mapped[int] = mapped_column(Integer, primary_key=True)
            owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
            note: Mapped[str] = mapped_column(String(20))

        table = PrivacyThrowaway.__table__
        try:
            assert PrivacyThrowaway in personal_data.unhandled_models(app)
        finally:
            # Unmap and drop it from the metadata so no other test (or create_all) sees it.
            registry = db.Model.registry
            manager = PrivacyThrowaway._sa_class_manager  # type: ignore[attr-defined]
            registry._dispose_manager_and_mapper(manager)
            registry._managers.pop(manager, None)
            db.metadata.remove(table)
        assert personal_data.unhandled_models(app) == set()
        assert "privacy_test_throwaway" not in db.metadata.tables


def _traces(app, uid, email, ip, key):
    """Every cell in every table that still points at the person."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            user_fks = {fk.parent.name for fk in table.foreign_keys if fk.column.table.name == "users"}
            for row in db.session.execute(select(table)).mappings():
                if table.name == "users" and row["id"] == uid:
                    found.append(("users", "id", uid))
                for column, value in row.items():
                    if column in user_fks and value == uid:
                        found.append((table.name, column, value))
                    if isinstance(value, str) and any(n in value.lower() for n in (email.lower(), ip, key)):
                        found.append((table.name, column, value))
    return found


def test_erasure_leaves_nothing_personal_in_any_table(app, smtp):
    client = registered_client(app, smtp, VICTIM, ip=VICTIM_IP)
    bystander = registered_client(app, smtp, "bystander@example.com", ip="198.51.100.1")
    send_inquiry(client, VICTIM, "access", "My data please")
    with app.app_context():
        inquiry = db.session.scalars(select(Inquiry)).one()
        inquiries.mark_answered(inquiry.reference)
        from portal.accounts.service import attempt_key

        key = attempt_key(VICTIM)
    uid = user_id(app, VICTIM)
    before = _traces(app, uid, VICTIM, VICTIM_IP, key)
    tables = {t for t, _, _ in before}
    assert {"users", "login_sessions", "login_attempts", "privacy_inquiries"} <= tables  # the scan sees data
    smtp.clear()
    token = csrf_token(client, "/account")
    response = client.post("/account/delete", data={"csrf_token": token, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert _traces(app, uid, VICTIM, VICTIM_IP, key) == []
    # The closed case stays as proof it was handled, without address or text.
    with app.app_context():
        kept = db.session.scalars(select(Inquiry)).one()
        assert kept.status == "answered" and kept.email is None and kept.message == "" and kept.redacted_at
    # Signed out, told so, and the confirmation went to the old address.
    home = client.get("/")
    assert "Your account and its personal data have been deleted" in home.get_data(as_text=True)
    assert client.get("/account").status_code == 302
    [mail] = smtp.to(VICTIM)
    assert "has been deleted" in mail["Subject"] and "/signup" in text_part(mail)
    # Nobody else lost anything.
    assert bystander.get("/account").status_code == 200


def test_the_same_address_can_sign_up_again(app, smtp):
    client = registered_client(app, smtp, VICTIM)
    token = csrf_token(client, "/account")
    assert client.post("/account/delete", data={"csrf_token": token, "password": PASSWORD}).status_code == 303
    smtp.clear()
    again = browser(app)
    assert Auth(again, smtp).register(VICTIM, PASSWORD).status_code == 302
    assert again.get("/account").status_code == 200


def test_delete_refuses_without_password_or_csrf(app, smtp):
    client = registered_client(app, smtp, VICTIM)
    assert client.post("/account/delete", data={"password": PASSWORD}).status_code == 400
    token = csrf_token(client, "/account")
    wrong = client.post("/account/delete", data={"csrf_token": token, "password": "wrong password"})
    assert wrong.status_code == 400 and "Your password is not correct." in wrong.get_data(as_text=True)
    empty = client.post("/account/delete", data={"csrf_token": token})
    assert empty.status_code == 400 and "Please enter your password." in empty.get_data(as_text=True)
    assert user_id(app, VICTIM) is not None
    assert client.get("/account").status_code == 200
    assert browser(app).post("/account/delete", data={"password": PASSWORD}).status_code in (302, 400)


def test_open_inquiry_is_kept_until_answered_then_redacted(app, smtp):
    client = registered_client(app, smtp, VICTIM)
    send_inquiry(client, VICTIM, "erasure", "Delete everything")
    token = csrf_token(client, "/account")
    assert client.post("/account/delete", data={"csrf_token": token, "password": PASSWORD}).status_code == 303
    with app.app_context():
        kept = db.session.scalars(select(Inquiry)).one()
        # Still needed to answer within the legal deadline, but no longer linked to an account.
        assert kept.is_open and kept.email == "Victim@example.com" and kept.user_id is None and kept.redact_on_close
        inquiries.mark_answered(kept.reference)
        db.session.refresh(kept)
        assert kept.email is None and kept.email_key is None and kept.message == ""


def test_erasure_is_one_transaction(app, smtp):
    registered_client(app, smtp, VICTIM)

    def broken(user):
        raise RuntimeError("disk full")

    personal_data.register(app, "zz-broken", (), lambda user: {}, broken, order=999)
    try:
        with app.app_context():
            user = db.session.get(User, user_id(app, VICTIM))
            with pytest.raises(RuntimeError):
                rights.erase_account(user, PASSWORD, "192.0.2.1")
            db.session.remove()
            assert db.session.scalar(select(LoginSession.id).where(LoginSession.user_id == user_id(app, VICTIM)))
    finally:
        personal_data.unregister(app, "zz-broken")
    assert user_id(app, VICTIM) is not None


def test_export_is_driven_by_the_registry(app, smtp):
    client = registered_client(app, smtp, VICTIM)
    personal_data.register(app, "zz-extra", (), lambda user: {"zz_extra": {"email_seen": user.email}},
                           lambda user: None)
    try:
        document = json.loads(client.get("/account/export").get_data(as_text=True))
        with app.app_context():
            user = db.session.get(User, user_id(app, VICTIM))
            personal_data.register(app, "zz-clash", (), lambda user: {"account": {}}, lambda user: None)
            with pytest.raises(RuntimeError, match="already taken"):
                rights.export_document(user)
    finally:
        personal_data.unregister(app, "zz-extra")
        personal_data.unregister(app, "zz-clash")
    assert document["zz_extra"] == {"email_seen": "Victim@example.com"}


def test_password_guessing_on_export_and_delete_is_rate_limited(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = registered_client(app, smtp, VICTIM)
    _stale(app, VICTIM)
    token = csrf_token(client, "/account/export")
    codes = [client.post("/account/export", data={"csrf_token": token, "password": f"guess {n}"}).status_code
             for n in range(4)]
    assert codes == [400, 400, 400, 429]
    codes = [client.post("/account/delete", data={"csrf_token": token, "password": f"guess {n}"}).status_code
             for n in range(4)]
    assert codes == [400, 400, 400, 429]
    assert user_id(app, VICTIM) is not None


def test_export_filename_is_safe_whatever_the_site_name(make_app, smtp):
    app = make_app(SITE_NAME='Portál "x"; filename=evil.exe')
    client = registered_client(app, smtp, VICTIM)
    disposition = client.get("/account/export").headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Port_l_x_filename_evil.exe-data-')
    assert disposition.endswith('.json"') and disposition.count('"') == 2


def test_admin_sees_the_console_link_on_the_account_page(app, smtp):
    from tests.privacy_support import make_admin

    client = registered_client(app, smtp, VICTIM)
    assert 'href="/staff"' not in client.get("/account").get_data(as_text=True)
    make_admin(app, VICTIM)
    assert 'href="/staff"' in client.get("/account").get_data(as_text=True)
