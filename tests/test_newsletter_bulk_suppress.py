"""`flask newsletter suppress --from-file` (plain lists and relays' CSV exports) and the bounce and
complaint rates per issue in `flask newsletter status`, with the SES thresholds."""

from __future__ import annotations

import pytest

from portal.extensions import db as _db
from portal.mail.suppression import find
from portal.newsletter.subscriptions import is_subscribed
from tests.mail_feedback_support import BOUNCE_ADDRESS, fixture, send_issue
from tests.newsletter_support import make_subscribers


def _invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["newsletter", *args])


def test_a_plain_list_suppresses_accounts_and_addresses_without_one(app, db, tmp_path):
    make_subscribers(2)
    path = tmp_path / "list.txt"
    path.write_text("# exported 2026-12-01\nreader0000@example.com\n\nStranger@Example.org\nnot an address\n")
    result = _invoke(app, "suppress", "--from-file", str(path), "--reason", "bounce")
    assert result.exit_code == 0, result.output
    assert "2 address(es) suppressed" in result.output and "line 5" in result.output
    _db.session.rollback()
    assert find("reader0000@example.com").reason == "bounce" and find("stranger@example.org") is not None
    from tests.test_mail_suppression import _user

    assert not is_subscribed(_user("reader0000@example.com")) and is_subscribed(_user("reader0001@example.com"))
    again = _invoke(app, "suppress", "--from-file", str(path), "--reason", "bounce")
    assert "0 address(es) suppressed, 2 already" in again.output


def test_an_ses_style_csv_export_with_a_reason_column(app, db, tmp_path):
    path = tmp_path / "ses.csv"
    path.write_text("EmailAddress,Reason,LastUpdateTime\r\n"
                    "a@example.org,BOUNCE,2026-11-01T00:00:00Z\r\nb@example.org,COMPLAINT,2026-11-02T00:00:00Z\r\n",
                    encoding="utf-8-sig")
    result = _invoke(app, "suppress", "--from-file", str(path), "--reason", "admin")
    assert result.exit_code == 0, result.output
    assert (find("a@example.org").reason, find("b@example.org").reason) == ("bounce", "complaint")


def test_a_semicolon_csv_without_a_known_header_is_refused_clearly(app, db, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("name;mail\nAnna;a@example.org\n")
    result = _invoke(app, "suppress", "--from-file", str(path), "--reason", "bounce")
    assert result.exit_code == 1 and "no column named email" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--reason", "bounce"], ["x@example.org", "--from-file", "f", "--reason", "bounce"]])
def test_one_email_or_a_file_is_required(app, args):
    assert _invoke(app, "suppress", *args).exit_code == 2


def test_unreadable_files_are_a_clear_error(app, tmp_path):
    missing = _invoke(app, "suppress", "--from-file", str(tmp_path / "nope.txt"), "--reason", "bounce")
    assert missing.exit_code == 1 and "Cannot read" in missing.output
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    assert _invoke(app, "suppress", "--from-file", str(binary), "--reason", "bounce").exit_code == 1


def test_status_shows_bounce_and_complaint_rates_and_warns_above_the_ses_thresholds(make_app):
    app = make_app(BOUNCE_ADDRESS=BOUNCE_ADDRESS)
    with app.app_context():
        issue_id, sent = send_issue(3)
        quiet = _invoke(app, "status", str(issue_id))
        assert "bounces    0 (0.00 % of 3 sent)" in quiet.output and "WARNING" not in quiet.output
        runner = app.test_cli_runner()
        runner.invoke(args=["mail", "inbound"], input=fixture("dsn-hard-with-headers.eml", sent[0]))
        runner.invoke(args=["mail", "inbound"], input=fixture("arf-with-headers.eml", sent[1]))
        loud = _invoke(app, "status", str(issue_id))
        assert "bounces    1 (33.33 % of 3 sent)" in loud.output
        assert "complaints 1 (33.33 % of 3 sent)" in loud.output
        assert "WARNING: the bounce rate 33.33 % is above 5 %" in loud.output
        assert "WARNING: the complaint rate 33.33 % is above 0.1 %" in loud.output


def test_the_single_address_command_also_fills_the_suppression_list(app, db):
    make_subscribers(1)
    result = _invoke(app, "suppress", "reader0000@example.com", "--reason", "admin")
    assert result.exit_code == 0 and "suppressed" in result.output
    _db.session.rollback()
    assert find("reader0000@example.com").reason == "manual"
