"""`flask mail inbound`: RFC 3464 DSNs and RFC 5965 ARF reports mapped to their delivery through
the return-path tag alone; forged tags, other mail and garbage change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db as _db
from portal.mail.feedback_models import Feedback
from portal.mail.suppression import find
from portal.newsletter.subscriptions import history
from tests.mail_feedback_support import BOUNCE_ADDRESS, fixture, forged, send_issue, snapshot


@pytest.fixture
def bounce_app(make_app):
    return make_app(BOUNCE_ADDRESS=BOUNCE_ADDRESS)


def inbound(app, raw: bytes, *args: str):
    result = app.test_cli_runner().invoke(args=["mail", "inbound", *args], input=raw)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _reports():
    return [(r.kind, r.source, r.delivery_id) for r in _db.session.scalars(select(Feedback).order_by(Feedback.id))]


@pytest.mark.parametrize(("name", "status"), [("dsn-hard-with-headers.eml", "5.1.1"),
                                              ("dsn-hard-with-message.eml", "5.2.1")])
def test_a_hard_bounce_suppresses_exactly_its_delivery_s_recipient(bounce_app, name, status):
    with bounce_app.app_context():
        _, sent = send_issue()
        target = sent[1]
        result = inbound(bounce_app, fixture(name, target))
        assert result.exit_code == 0 and result.output.startswith("applied:"), result.output
        assert _reports() == [("bounce", "dsn", target.delivery_id)]
        assert find(target.recipient).reason == "bounce"
        assert find(sent[0].recipient) is None and find(sent[2].recipient) is None
        from portal.accounts.models import User

        user = _db.session.get(User, target.user_id)
        assert history(user)[-1].source == "bounce"
        assert f"failed {status}" in find(target.recipient).detail


def test_a_soft_bounce_without_the_original_is_recorded_and_suppresses_only_after_the_limit(make_app):
    app = make_app(BOUNCE_ADDRESS=BOUNCE_ADDRESS, MAIL_SOFT_BOUNCE_LIMIT=2)
    with app.app_context():
        _, sent = send_issue()
        target = sent[0]
        assert inbound(app, fixture("dsn-soft-without-headers.eml", target)).exit_code == 0
        assert _reports() == [("soft-bounce", "dsn", target.delivery_id)]
        assert find(target.recipient) is None
        result = inbound(app, fixture("dsn-soft-without-headers.eml", target))
        assert "suppressed" in result.output
        assert find(target.recipient).reason == "bounce" and "2 temporary bounces" in find(target.recipient).detail


def test_a_multi_recipient_dsn_acts_on_our_recipient_only_never_on_other_addresses_it_names(bounce_app):
    with bounce_app.app_context():
        _, sent = send_issue()
        target, bystander = sent[2], sent[0]
        # The report says another account's address failed for good: its content is not proof.
        result = inbound(bounce_app, fixture("dsn-multi-recipient.eml", target, other=bystander.recipient))
        assert result.exit_code == 0
        assert _reports() == [("soft-bounce", "dsn", target.delivery_id)]
        assert find(bystander.recipient) is None and find(target.recipient) is None


@pytest.mark.parametrize("name", ["arf-with-headers.eml", "arf-without-headers.eml"])
def test_an_arf_complaint_maps_through_the_quoted_return_path_and_suppresses(bounce_app, name):
    with bounce_app.app_context():
        _, sent = send_issue()
        target = sent[1]
        result = inbound(bounce_app, fixture(name, target))
        assert result.exit_code == 0 and "complaint" in result.output, result.output
        assert _reports() == [("complaint", "arf", target.delivery_id)]
        assert find(target.recipient).reason == "complaint"
        from portal.accounts.models import User

        assert history(_db.session.get(User, target.user_id))[-1].source == "complaint"


@pytest.mark.parametrize("name", ["dsn-hard-with-headers.eml", "dsn-hard-with-message.eml", "dsn-multi-recipient.eml",
                                  "dsn-soft-without-headers.eml", "arf-with-headers.eml", "arf-without-headers.eml"])
def test_a_forged_tag_is_ignored_with_a_log_line_and_changes_nothing(bounce_app, name, caplog):
    with bounce_app.app_context():
        _, sent = send_issue()
        before = snapshot()
        result = inbound(bounce_app, fixture(name, sent[0], return_path=forged(sent[0].return_path)))
        assert result.exit_code == 0 and result.output.startswith("ignored:"), result.output
        assert "does not verify" in result.output
        assert snapshot() == before
        ours = [r.getMessage() for r in caplog.records if r.name.startswith("portal")]
        assert any("does not verify" in line for line in ours)
        mac = sent[0].return_path.split("@")[0].split("-")[-1]
        assert not any(mac in line or sent[0].recipient in line for line in ours)  # no tag, no address


def test_mail_to_the_list_unsubscribe_address_unsubscribes_and_a_forged_one_does_not(bounce_app, smtp):
    with bounce_app.app_context():
        _, sent = send_issue()
        header = str(smtp.to(sent[0].recipient)[0]["List-Unsubscribe"])
        assert header.startswith("<http") and "<mailto:bounces+unsub-" in header
        mailto = header.split("<mailto:")[1].split("?")[0]
        before = snapshot()
        fake = mailto.replace(f"unsub-{sent[0].user_id}-", f"unsub-{sent[1].user_id}-")
        message = b"From: someone@example.com\r\nTo: %s\r\nSubject: unsubscribe\r\n\r\nplease\r\n"
        result = inbound(bounce_app, message % fake.encode())
        assert result.exit_code == 0 and "does not verify" in result.output and snapshot() == before
        result = inbound(bounce_app, message % mailto.upper().encode())  # case-folded by some MTA
        assert result.exit_code == 0 and "unsubscribed by mail" in result.output
        after = snapshot()
        assert after["subscribed"] == sorted([sent[1].user_id, sent[2].user_id])
        from portal.accounts.models import User

        assert history(_db.session.get(User, sent[0].user_id))[-1].source == "email-link"


@pytest.mark.parametrize("raw", [
    b"From: a@example.com\r\nTo: someone@portal.example\r\nSubject: hi\r\n\r\nhello\r\n",
    b"\x00\xff\xfe garbage \x80\x81\r\n\r\n\r\n--",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\nTo: {RP}\r\n\r\n--x\r\n"
    b"Content-Type: message/delivery-status\r\n\r\nStatus: banana\r\n--x",
    b"Content-Type: multipart/report; report-type=feedback-report\r\nTo: {RP}\r\n\r\nno parts",
    b"To: {RP}\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n",
])
def test_anything_else_is_ignored_with_exit_0_and_changes_nothing(bounce_app, raw):
    with bounce_app.app_context():
        _, sent = send_issue(1)
        before = snapshot()
        result = inbound(bounce_app, raw.replace(b"{RP}", sent[0].return_path.encode()))
        assert result.exit_code == 0 and result.output.startswith("ignored:"), result.output
        assert "Traceback" not in result.output
        assert snapshot() == before


def test_an_empty_input_is_a_clear_error(bounce_app):
    result = bounce_app.test_cli_runner().invoke(args=["mail", "inbound"], input=b"")
    assert result.exit_code == 1 and "No message on standard input" in result.output


def test_the_envelope_recipient_from_the_mta_is_enough(bounce_app):
    with bounce_app.app_context():
        _, sent = send_issue(1)
        raw = fixture("dsn-hard-with-headers.eml", sent[0], return_path="bounces@mail.portal.example")
        assert "ignored" in inbound(bounce_app, raw).output
        result = inbound(bounce_app, raw, "--recipient", sent[0].return_path)
        assert result.output.startswith("applied:")
