"""The data-protection desk: deadlines, the one extension, replies by email kept with the case,
export and erasure of the person through the self-service functions, the breach register, the
audit and retention page, and the staff audit log. Every console URL is 404 to non-staff."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.staff import deadlines
from tests.helpers import PASSWORD, csrf_token, html_part, text_part
from tests.privacy_support import browser
from tests.staff_support import STAFF, account, actions, post, seed_inquiry, signed_in, staff_client

PRAGUE = ZoneInfo("Europe/Prague")
CONSOLE_BLUEPRINTS = ("staff", "staff_desk", "staff_breaches", "staff_people", "staff_reports")


# --- who may see it --------------------------------------------------------------------------


def _console_urls(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in CONSOLE_BLUEPRINTS:
            path = re.sub(r"<[^>]+>", "1", rule.rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield method, path


def test_every_console_url_is_404_to_anonymous_and_ordinary_accounts(app, smtp):
    seed_inquiry(app, "DP-CASE0001")
    urls = sorted(set(_console_urls(app)))
    assert len(urls) >= 20
    stranger = browser(app)
    member = signed_in(app, "member@example.com")
    token = csrf_token(member, "/account")
    for client in (stranger, member):
        for method, path in [*urls, ("GET", "/privacy/inquiries")]:
            path = path.replace("/1", "/DP-CASE0001") if path.startswith("/staff/desk/") else path
            response = client.open(path, method=method, data={"csrf_token": token})
            assert response.status_code == 404, (method, path, response.status_code)


# --- deadline arithmetic ---------------------------------------------------------------------


@pytest.mark.parametrize(("start", "months", "due"), [
    (datetime(2026, 1, 31, 10, tzinfo=UTC), 1, datetime(2026, 2, 28, 10, tzinfo=UTC)),
    (datetime(2028, 1, 31, 10, tzinfo=UTC), 1, datetime(2028, 2, 29, 10, tzinfo=UTC)),
    (datetime(2026, 12, 15, 10, tzinfo=UTC), 1, datetime(2027, 1, 15, 10, tzinfo=UTC)),
    (datetime(2026, 11, 30, 10, tzinfo=UTC), 3, datetime(2027, 2, 28, 10, tzinfo=UTC)),
    (datetime(2026, 3, 15, 10, tzinfo=UTC), 1, datetime(2026, 4, 15, 9, tzinfo=UTC)),  # CET -> CEST
    (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), 1, datetime(2026, 12, 31, 23, 30, tzinfo=UTC)),  # 1 Dec local
])
def test_calendar_months_clamp_to_the_end_of_the_month_in_local_time(start, months, due):
    assert deadlines.add_months(start, months, PRAGUE) == due


def test_an_extension_counts_further_calendar_months_from_the_first_deadline():
    received = datetime(2026, 1, 31, 10, tzinfo=UTC)
    first = deadlines.add_months(received, 1, PRAGUE)
    assert first == datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert deadlines.extended_due(first, 2, PRAGUE) == datetime(2026, 4, 28, 9, tzinfo=UTC)  # summer time
    assert deadlines.extended_due(first, 1, PRAGUE) == datetime(2026, 3, 28, 10, tzinfo=UTC)
    for months in (0, 3, -1):
        with pytest.raises(deadlines.DeadlineError):
            deadlines.extended_due(first, months, PRAGUE)


def test_the_extension_rules():
    due = datetime(2026, 2, 28, 10, tzinfo=UTC)
    before = due - timedelta(days=1)
    deadlines.check_extension(already_extended=False, reason="complex", original_due=due, now=before)
    for kwargs, code in [
        ({"already_extended": True, "reason": "complex", "now": before}, "twice"),
        ({"already_extended": False, "reason": "  ", "now": before}, "reason"),
        ({"already_extended": False, "reason": "complex", "now": due + timedelta(seconds=1)}, "late"),
    ]:
        with pytest.raises(deadlines.DeadlineError) as caught:
            deadlines.check_extension(original_due=due, **kwargs)
        assert caught.value.code == code


def test_the_72_hour_clock():
    found = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert deadlines.breach_due(found) == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    running = deadlines.clock(deadlines.breach_due(found), found + timedelta(hours=70, minutes=15))
    assert not running.overdue and (running.hours, running.minutes) == (1, 45)
    late = deadlines.clock(deadlines.breach_due(found), found + timedelta(hours=75, minutes=30))
    assert late.overdue and (late.hours, late.minutes) == (3, 30)


# --- the desk over HTTP ----------------------------------------------------------------------


def _inquiry(app, reference="DP-CASE0001"):
    from portal.privacy.models import Inquiry

    with app.app_context():
        found = db.session.scalar(select(Inquiry).where(Inquiry.reference == reference))
        db.session.expunge_all()
        return found



def test_desk_lists_by_deadline_with_time_left_and_the_case_page(app, smtp):
    now = utcnow()
    seed_inquiry(app, "DP-LATE0001", created=now - timedelta(days=40))
    seed_inquiry(app, "DP-SOON0001", created=now - timedelta(days=20))
    seed_inquiry(app, "DP-NEW00001", created=now - timedelta(hours=1))
    staff = staff_client(app)
    page = staff.get("/staff/desk").get_data(as_text=True)
    assert page.index("DP-LATE0001") < page.index("DP-SOON0001") < page.index("DP-NEW00001")
    assert "overdue by" in page and "days left" in page
    case = staff.get("/staff/desk/dp-soon0001")
    assert case.status_code == 200 and "What do you keep about me?" in case.get_data(as_text=True)
    assert staff.get("/staff/desk/DP-NOSUCH01").status_code == 404
    assert staff.get("/staff/desk/" + "x" * 300).status_code == 404


def test_assignee_and_notes_are_saved_and_audited(app, smtp):
    seed_inquiry(app)
    staff = staff_client(app)
    colleague = account(app, "colleague@example.org", admin=True)
    ordinary = account(app, "member@example.com")
    path = "/staff/desk/DP-CASE0001/case"
    refused = post(staff, path, {"assignee": str(ordinary), "notes": "x"})
    assert refused.status_code == 400 and "list of staff accounts" in refused.get_data(as_text=True)
    done = post(staff, path, {"assignee": str(colleague), "notes": "Called them back.\r\nWaiting."})
    assert done.status_code == 303
    page = staff.get("/staff/desk/DP-CASE0001").get_data(as_text=True)
    assert "Called them back." in page
    assert f'selected value="{colleague}"' in page or f'value="{colleague}" selected' in page
    assert ("inquiry.update", "DP-CASE0001", f"assignee={colleague}, notes") in actions(app)
    assert "colleague@example.org" in staff.get("/staff/desk").get_data(as_text=True)


def test_extension_once_with_a_reason_told_to_the_sender(app, smtp):
    seed_inquiry(app)
    staff = staff_client(app)
    before = _inquiry(app).due_at
    path = "/staff/desk/DP-CASE0001/extend"
    no_reason = post(staff, path, {"months": "2", "reason": " "})
    assert no_reason.status_code == 400 and "reason" in no_reason.get_data(as_text=True)
    assert post(staff, path, {"months": "3", "reason": "x"}).status_code == 400
    done = post(staff, path, {"months": "2", "reason": "We have to search the old backups."})
    assert done.status_code == 303
    after = _inquiry(app).due_at
    with app.app_context():
        assert after == deadlines.extended_due(before, 2, PRAGUE)
    [told] = smtp.to("person@example.com")
    assert "DP-CASE0001" in told["Subject"]
    assert "We have to search the old backups." in text_part(told) and after.astimezone(PRAGUE).strftime(
        "%Y-%m-%d") in text_part(told)
    assert "old backups" in html_part(told)
    twice = post(staff, path, {"months": "1", "reason": "Still searching."})
    assert twice.status_code == 400 and "one extension" in twice.get_data(as_text=True)
    assert _inquiry(app).due_at == after
    page = staff.get("/staff/desk/DP-CASE0001").get_data(as_text=True)
    assert "We have to search the old backups." in page and "no second extension" in page
    assert next(a for a in actions(app) if a[0] == "inquiry.extend")[2].startswith("+2 month(s)")


def test_no_extension_after_the_first_month(app, smtp):
    seed_inquiry(app, created=utcnow() - timedelta(days=40))
    late = post(staff_client(app), "/staff/desk/DP-CASE0001/extend", {"months": "1", "reason": "Busy."})
    assert late.status_code == 400 and "first month is over" in late.get_data(as_text=True)


def test_reply_is_delivered_kept_with_the_case_and_marks_it_answered(make_app, smtp):
    app = make_app(DPO_EMAIL="dpo@portal.example")
    seed_inquiry(app)
    staff = staff_client(app)
    path = "/staff/desk/DP-CASE0001/reply"
    assert post(staff, path, {"subject": "Re", "body": ""}).status_code == 400
    body = "Dear person,\n\nwe keep your address and <b>nothing</b> else.\nRegards"
    done = post(staff, path, {"subject": "Your inquiry DP-CASE0001", "body": body, "answered": "y"})
    assert done.status_code == 303
    [sent] = smtp.to("person@example.com")
    assert sent["Subject"] == "Your inquiry DP-CASE0001" and sent["Reply-To"] == "dpo@portal.example"
    assert "Auto-Submitted" not in sent  # a person's answer, not an automatic notice
    assert "we keep your address and <b>nothing</b> else." in text_part(sent)
    assert "&lt;b&gt;nothing&lt;/b&gt;" in html_part(sent) and "<br>" in html_part(sent)
    assert _inquiry(app).status == "answered"
    page = staff.get("/staff/desk/DP-CASE0001").get_data(as_text=True)
    assert "Your inquiry DP-CASE0001" in page and "delivery: sent" in page
    assert "&lt;b&gt;nothing&lt;/b&gt;" in page
    assert [a[0] for a in actions(app)] == ["inquiry.reply", "inquiry.answered"]
    again = post(staff, "/staff/desk/DP-CASE0001/answered", follow_redirects=True)
    assert "already answered" in again.get_data(as_text=True)


def test_export_from_the_case_is_the_self_service_export_with_this_look_in_it(app, smtp):
    person_id = account(app, "person@example.com")
    seed_inquiry(app, user_id=person_id)
    staff = staff_client(app)
    response = post(staff, "/staff/desk/DP-CASE0001/export")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    document = json.loads(response.get_data(as_text=True))
    assert document["account"]["email"] == "person@example.com"
    [look] = document["staff_access_log"]
    assert look["staff"] == STAFF and look["viewed"] == "export" and "DP-CASE0001" in look["reason"]
    assert document["inquiries"][0]["reference"] == "DP-CASE0001"
    assert ("person.export", f"account {person_id}", "") in actions(app)


def test_erase_needs_the_staff_password_and_goes_through_self_service_erasure(app, smtp):
    from portal.accounts.models import User

    person_id = account(app, "person@example.com")
    seed_inquiry(app, user_id=person_id)
    staff = staff_client(app)
    path = "/staff/desk/DP-CASE0001/erase"
    assert post(staff, path, {}).status_code == 400
    wrong = post(staff, path, {"password": "not my password"})
    assert wrong.status_code == 400 and "password is not correct" in wrong.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, person_id) is not None
    done = post(staff, path, {"password": PASSWORD})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(User, person_id) is None
    # The self-service erasure's own farewell, and the open case keeps its address to be answered.
    [farewell] = smtp.to("person@example.com")
    assert "deleted" in farewell["Subject"]
    inquiry = _inquiry(app)
    assert inquiry.user_id is None and inquiry.redact_on_close and inquiry.email == "person@example.com"
    assert ("person.erase", f"account {person_id}", "inquiry DP-CASE0001") in actions(app)
    page = staff.get("/staff/desk/DP-CASE0001").get_data(as_text=True)
    assert "No account is linked" in page


def test_a_case_without_an_account_offers_no_export(app, smtp):
    seed_inquiry(app, email="stranger@example.com")
    staff = staff_client(app)
    assert "No account is linked" in staff.get("/staff/desk/DP-CASE0001").get_data(as_text=True)
    refused = post(staff, "/staff/desk/DP-CASE0001/export", follow_redirects=True)
    assert "No account is linked" in refused.get_data(as_text=True)


def test_replies_go_with_a_closed_case_when_the_person_is_erased(app, smtp):
    from portal.privacy import rights
    from portal.staff.models import CaseReply

    person_id = account(app, "person@example.com")
    seed_inquiry(app, user_id=person_id)
    staff = staff_client(app)
    post(staff, "/staff/desk/DP-CASE0001/reply", {"subject": "Answer", "body": "Private details", "answered": "y"})
    with app.test_request_context("/"):
        from portal.accounts.models import User

        rights.erase_user(db.session.get(User, person_id))
        [kept] = db.session.scalars(select(CaseReply)).all()
        assert kept.body == "" and kept.subject == ""


# --- the breach register ---------------------------------------------------------------------


def test_breach_register_clock_and_decision(app, smtp):
    from portal.staff.models import Breach

    staff = staff_client(app)
    found = (utcnow() - timedelta(hours=70)).astimezone(PRAGUE).strftime("%Y-%m-%d %H:%M")
    bad = post(staff, "/staff/breaches", {"discovered_at": "yesterday", "summary": "x"}, token_from="/staff/breaches")
    assert bad.status_code == 400 and "Write the time like" in bad.get_data(as_text=True)
    future = (utcnow() + timedelta(days=1)).astimezone(PRAGUE).strftime("%Y-%m-%d %H:%M")
    assert post(staff, "/staff/breaches", {"discovered_at": future, "summary": "x"}).status_code == 400
    done = post(staff, "/staff/breaches", {"discovered_at": found, "summary": "Backup left on a public share",
                                           "description": "The March backup."})
    assert done.status_code == 303
    with app.app_context():
        [breach] = db.session.scalars(select(Breach)).all()
        breach_id = breach.id
    listing = staff.get("/staff/breaches").get_data(as_text=True)
    assert "Backup left on a public share" in listing and re.search(r"[12] h \d+ min left", listing)
    path = f"/staff/breaches/{breach_id}"
    no_reason = post(staff, path, {"decision": "notify", "reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.get_data(as_text=True)
    notified = utcnow().astimezone(PRAGUE).strftime("%Y-%m-%d %H:%M")
    ok = post(staff, path, {"decision": "notify", "reason": "Contact details of 40 people exposed.",
                            "notified_at": notified, "people_informed": "All 40 by email on the same day."})
    assert ok.status_code == 303
    page = staff.get(path).get_data(as_text=True)
    assert "Authority notified" in page and "All 40 by email" in page
    assert [a[0] for a in actions(app)] == ["breach.register", "breach.decide"]
    assert staff.get("/staff/breaches/999").status_code == 404
    assert staff.get("/staff/breaches/%D9%A1").status_code == 404


def test_an_undecided_breach_past_72_hours_shows_overdue(app, smtp):
    staff = staff_client(app)
    found = (utcnow() - timedelta(hours=75, minutes=30)).astimezone(PRAGUE).strftime("%Y-%m-%d %H:%M")
    post(staff, "/staff/breaches", {"discovered_at": found, "summary": "Lost laptop"}, token_from="/staff/breaches")
    assert re.search(r"Overdue by 3 h \d+ min", staff.get("/staff/breaches").get_data(as_text=True))


# --- audit, retention and the staff audit log ------------------------------------------------


def test_health_page_shows_the_audit_and_the_last_purge(app, runner, smtp):
    staff = staff_client(app)
    page = staff.get("/staff/health").get_data(as_text=True)
    assert "session-idle-timeout" in page and "The purge has never run" in page
    result = runner.invoke(args=["privacy", "purge"])
    assert result.exit_code == 0
    page = staff.get("/staff/health").get_data(as_text=True)
    assert "Last run" in page and "login attempts (with IP addresses)" in page


def test_the_staff_audit_log_is_shown_and_cannot_be_changed(app, smtp):
    from sqlalchemy import delete, update

    from portal.staff import audit_log
    from portal.staff.models import StaffAction

    seed_inquiry(app)
    staff = staff_client(app)
    post(staff, "/staff/desk/DP-CASE0001/answered")
    page = staff.get("/staff/audit-log").get_data(as_text=True)
    assert "inquiry.answered" in page and STAFF in page
    with app.app_context():
        entry = db.session.scalars(select(StaffAction)).first()
        entry.detail = "rewritten"
        with pytest.raises(audit_log.AppendOnly):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(audit_log.AppendOnly):
            db.session.execute(delete(StaffAction))
        db.session.rollback()
        with pytest.raises(audit_log.AppendOnly):
            db.session.execute(update(StaffAction).values(detail="x"))
        db.session.rollback()
        db.session.delete(db.session.scalars(select(StaffAction)).first())
        with pytest.raises(audit_log.AppendOnly):
            db.session.flush()
        db.session.rollback()
    assert [a[0] for a in actions(app)] == ["inquiry.answered"]
    assert staff.get("/staff/audit-log?before=%E2%80%A8").status_code == 200


def test_console_forms_refuse_missing_csrf(app, smtp):
    seed_inquiry(app)
    staff = staff_client(app)
    for path in ("/staff/desk/DP-CASE0001/answered", "/staff/desk/DP-CASE0001/reply",
                 "/staff/desk/DP-CASE0001/extend", "/staff/breaches", "/staff/people"):
        assert staff.post(path, data={"subject": "x", "body": "y"}).status_code == 400, path
    assert actions(app) == []


def test_a_violation_report_leads_to_the_register_and_the_overview_shows_what_runs(app, smtp):
    from portal.staff.models import Breach

    seed_inquiry(app, "DP-LEAK0001", topic="breach", created=utcnow() - timedelta(days=40))
    staff = staff_client(app)
    case = staff.get("/staff/desk/DP-LEAK0001").get_data(as_text=True)
    assert "/staff/breaches?reference=DP-LEAK0001" in case
    form = staff.get("/staff/breaches?reference=DP-LEAK0001").get_data(as_text=True)
    assert 'value="DP-LEAK0001"' in form
    found = (utcnow() - timedelta(hours=1)).astimezone(PRAGUE).strftime("%Y-%m-%d %H:%M")
    post(staff, "/staff/breaches", {"discovered_at": found, "summary": "Reported leak", "reference": "dp-leak0001"},
         token_from="/staff/breaches")
    with app.app_context():
        [breach] = db.session.scalars(select(Breach)).all()
        assert breach.inquiry_id is not None
    overview = staff.get("/staff").get_data(as_text=True)
    assert "1 open inquiry" in overview and "1 overdue" in overview
    assert "Reported leak" in overview and re.search(r"7[01] h \d+ min left", overview)
