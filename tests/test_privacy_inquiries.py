"""/privacy/contact, the staff desk and `flask privacy inquiries|answer`, with real email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.privacy import inquiries
from portal.privacy.models import Inquiry
from tests.helpers import csrf_token, html_part, text_part
from tests.privacy_support import REFERENCE, browser, make_admin, registered_client, send_inquiry, user_id


@pytest.fixture
def client(app):
    return browser(app)


def _stored(app):
    with app.app_context():
        return db.session.scalars(select(Inquiry).order_by(Inquiry.id)).all()


def test_inquiry_is_stored_sent_to_the_dpo_and_acknowledged(make_app, smtp):
    app = make_app(DPO_EMAIL="dpo@portal.example")
    client = browser(app)
    response = send_inquiry(client, "Visitor@Example.com", "breach", "I think my data leaked.\nPlease check.")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    reference = REFERENCE.search(page).group(0)
    messages = smtp.wait_for(2)
    to_dpo = smtp.to("dpo@portal.example")
    to_sender = smtp.to("Visitor@example.com")
    assert len(messages) == 2 and len(to_dpo) == 1 and len(to_sender) == 1
    assert reference in to_dpo[0]["Subject"] and "I think my data leaked." in text_part(to_dpo[0])
    assert to_dpo[0]["Reply-To"] == "Visitor@example.com"
    assert "Report a data breach" in text_part(to_dpo[0]) and reference in html_part(to_dpo[0])
    ack = text_part(to_sender[0])
    with app.app_context():
        inquiry = db.session.scalar(select(Inquiry).where(Inquiry.reference == reference))
        assert inquiry.topic == "breach" and inquiry.status == "open" and inquiry.dpo_notified
        assert inquiry.email == "Visitor@example.com" and inquiry.email_key == "visitor@example.com"
        assert timedelta(days=28) <= inquiry.due_at - inquiry.created_at <= timedelta(days=31)
        due = inquiries._date(inquiry.due_at)
    assert reference in ack and due in ack and due in page
    # The sender's text is not relayed in the acknowledgement (no spam relay through our form).
    assert "leaked" not in ack and "leaked" not in html_part(to_sender[0])


def test_without_dpo_email_the_inquiry_is_still_stored_and_acknowledged(client, smtp, app):
    response = send_inquiry(client, "someone@example.com")
    assert response.status_code == 200
    assert len(smtp.wait_for(1)) == 1 and smtp.to("someone@example.com")
    [inquiry] = _stored(app)
    assert inquiry.dpo_notified is False


def test_mail_failure_keeps_the_inquiry_and_records_the_refusal(make_app, smtp):
    from portal.mail.models import Delivery

    app = make_app(DPO_EMAIL="dpo@portal.example")
    smtp.reject.update({"dpo@portal.example", "sender@example.com"})
    response = send_inquiry(browser(app), "sender@example.com")
    assert response.status_code == 200
    [inquiry] = _stored(app)
    assert inquiry.dpo_notified is True  # queued with the case
    with app.app_context():
        rows = {r.kind: r for r in db.session.scalars(select(Delivery))}
        # A permanent refusal is final and visible to the operator, never silently dropped.
        assert rows["privacy.dpo"].status == "failed" and rows["privacy.dpo"].last_error.startswith("550")
        assert rows["privacy.ack"].status == "failed"


def test_logged_in_sender_is_linked_and_prefilled(app, smtp):
    client = registered_client(app, smtp, "member@example.com")
    assert 'value="member@example.com"' in client.get("/privacy/contact").get_data(as_text=True)
    assert send_inquiry(client, "member@example.com").status_code == 200
    [inquiry] = _stored(app)
    assert inquiry.user_id == user_id(app, "member@example.com")


@pytest.mark.parametrize(("data", "error"), [
    ({"email": "not-an-address", "topic": "access", "message": "hi"}, "does not look like an email address"),
    ({"email": "", "topic": "access", "message": "hi"}, "Please enter your email address"),
    ({"email": "a@" + "b" * 400 + ".com", "topic": "access", "message": "hi"}, "too long"),
    ({"email": "a@example.com", "topic": "hacking", "message": "hi"}, "Not a valid choice"),
    ({"email": "a@example.com", "topic": "", "message": "hi"}, "choose a topic"),
    ({"email": "a@example.com", "topic": "access", "message": "   "}, "write your message"),
    ({"email": "a@example.com", "topic": "access", "message": "x" * 5001}, "under 5000 characters"),
    ({"email": "a@example.com", "topic": "access", "message": "nul\x00byte"}, "cannot store"),
    ({"email": "a@example.com\r\nBcc: x@example.com", "topic": "access", "message": "hi"}, "email address"),
    ({}, "Please enter your email address"),
])
def test_bad_input_re_renders_the_form_with_a_400(app, client, smtp, data, error):
    data = dict(data, csrf_token=csrf_token(client, "/privacy/contact"))
    response = client.post("/privacy/contact", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert error in page and "Traceback" not in page
    assert 'name="message"' in page
    assert _stored(app) == [] and smtp.messages == []


def test_missing_csrf_is_refused(app, client, smtp):
    client.get("/privacy/contact")
    response = client.post("/privacy/contact", data={"email": "a@example.com", "topic": "access", "message": "hi"})
    assert response.status_code == 400
    assert _stored(app) == []


def test_contact_is_rate_limited_per_ip(make_app, smtp):
    app = make_app(INQUIRY_RATE_LIMIT="2 per hour")
    client = browser(app)
    assert send_inquiry(client, "a@example.com").status_code == 200
    assert send_inquiry(client, "a@example.com").status_code == 200
    refused = send_inquiry(client, "a@example.com")
    assert refused.status_code == 429 and refused.headers.get("Retry-After")
    other = browser(app)
    assert send_inquiry(other, "b@example.com").status_code == 200
    assert client.get("/privacy/contact").status_code == 200  # reading the form is not limited


def test_bad_rate_limit_setting_is_a_clear_config_error(make_app):
    from portal.config import ConfigError

    with pytest.raises(ConfigError, match="INQUIRY_RATE_LIMIT"):
        make_app(INQUIRY_RATE_LIMIT="lots")


@pytest.mark.parametrize(("start", "due"), [
    (datetime(2026, 1, 31, 10, tzinfo=UTC), datetime(2026, 2, 28, 10, tzinfo=UTC)),
    (datetime(2028, 1, 31, 10, tzinfo=UTC), datetime(2028, 2, 29, 10, tzinfo=UTC)),
    (datetime(2026, 12, 15, 10, tzinfo=UTC), datetime(2027, 1, 15, 10, tzinfo=UTC)),
    (datetime(2026, 3, 15, 10, tzinfo=UTC), datetime(2026, 4, 15, 9, tzinfo=UTC)),  # CET -> CEST
])
def test_due_date_is_one_calendar_month_in_local_time(app, start, due):
    with app.app_context():
        assert inquiries.one_month_later(start) == due


def _seed(app, count=3):
    with app.app_context():
        now = datetime.now(UTC)
        for n in range(count):
            db.session.add(Inquiry(reference=f"DP-SEED000{n}", topic="access", email=f"p{n}@example.com",
                                   email_key=f"p{n}@example.com", message=f"message {n}",
                                   created_at=now, due_at=now + timedelta(days=10 - 3 * n)))
        db.session.commit()


def test_desk_is_hidden_from_everyone_but_admins(app, smtp):
    _seed(app)
    assert browser(app).get("/privacy/inquiries").status_code == 404
    member = registered_client(app, smtp, "member@example.com")
    assert member.get("/privacy/inquiries").status_code == 404
    token = csrf_token(member, "/account")
    refused = member.post("/privacy/inquiries/DP-SEED0000/answered", data={"csrf_token": token})
    assert refused.status_code == 404
    assert all(i.status == "open" for i in _stored(app))


def test_admin_sees_open_inquiries_by_deadline_and_marks_them_answered(app, smtp):
    # The old desk address leads to the console's desk (tests/test_staff_desk.py covers the rest).
    _seed(app)
    admin = registered_client(app, smtp, "staff@example.com")
    make_admin(app, "staff@example.com")
    moved = admin.get("/privacy/inquiries")
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/staff/desk")
    page = admin.get("/staff/desk").get_data(as_text=True)
    positions = [page.index(f"DP-SEED000{n}") for n in (2, 1, 0)]
    assert positions == sorted(positions)  # nearest deadline first
    assert admin.post("/staff/desk/DP-SEED0001/answered").status_code == 400  # no CSRF
    token = csrf_token(admin, "/staff/desk")
    done = admin.post("/staff/desk/DP-SEED0001/answered", data={"csrf_token": token})
    assert done.status_code == 303
    followed = admin.get("/staff/desk/DP-SEED0001").get_data(as_text=True)
    assert "DP-SEED0001 is marked answered" in followed
    assert [i.reference for i in _stored(app) if i.status == "answered"] == ["DP-SEED0001"]
    assert admin.post("/staff/desk/DP-NOSUCH00/answered", data={"csrf_token": token}).status_code == 404


def test_cli_lists_by_deadline_and_marks_answered(app, runner):
    _seed(app)
    listed = runner.invoke(args=["privacy", "inquiries"])
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["DP-SEED0002", "DP-SEED0001", "DP-SEED0000"]
    answered = runner.invoke(args=["privacy", "answer", "dp-seed0002"])
    assert answered.exit_code == 0 and "DP-SEED0002 is marked answered" in answered.output
    assert "DP-SEED0002" not in runner.invoke(args=["privacy", "inquiries"]).output
    assert "DP-SEED0002  answered" in runner.invoke(args=["privacy", "inquiries", "--all"]).output
    twice = runner.invoke(args=["privacy", "answer", "DP-SEED0002"])
    assert twice.exit_code != 0 and "already answered" in twice.output
    unknown = runner.invoke(args=["privacy", "answer", "x" * 500])
    assert unknown.exit_code != 0 and "No inquiry" in unknown.output and "Traceback" not in unknown.output


def test_cli_marks_overdue(app, runner):
    with app.app_context():
        now = datetime.now(UTC)
        db.session.add(Inquiry(reference="DP-LATE0000", topic="other", email="l@example.com", email_key="l@example.com",
                               message="m", created_at=now - timedelta(days=40), due_at=now - timedelta(days=9)))
        db.session.commit()
        assert inquiries.overdue_count() == 1
        assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 1
    assert "OVERDUE" in runner.invoke(args=["privacy", "inquiries"]).output


def test_line_breaks_count_once_like_the_browser_counts_them(app, client, smtp):
    message = "line\r\n" * 900  # 5400 bytes as sent, 4500 characters as typed
    assert send_inquiry(client, "a@example.com", "other", message).status_code == 200
    [inquiry] = _stored(app)
    assert inquiry.message == ("line\n" * 900).strip()
