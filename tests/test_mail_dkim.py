"""DKIM: every message signed when DKIM_* is set, verified by dkimpy itself against the public key
from a stub resolver; List-Unsubscribe and List-Unsubscribe-Post are signed; any change breaks it."""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest

from portal import create_app
from portal.config import ConfigError
from portal.extensions import db as _db
from portal.mail import enqueue
from portal.mail.worker import deliver_due
from tests import dkim_support
from tests.mail_feedback_support import BOUNCE_ADDRESS, send_issue


def _signed_headers(raw: bytes) -> list[bytes]:
    signature = dkim.DKIM(raw)
    signature.verify(dnsfunc=dkim_support.dnsfunc)
    return list(signature.include_headers)


@pytest.fixture
def dkim_app(make_app):
    return make_app(BOUNCE_ADDRESS=BOUNCE_ADDRESS, **dkim_support.settings())


def test_a_newsletter_copy_is_signed_with_the_list_headers_and_verifies(dkim_app, smtp):
    with dkim_app.app_context():
        send_issue(2)
    assert len(smtp.raw) == 2
    for raw in smtp.raw:
        assert dkim.verify(raw, dnsfunc=dkim_support.dnsfunc)
        signed = _signed_headers(raw)
        assert b"list-unsubscribe" in signed and b"list-unsubscribe-post" in signed and b"from" in signed
        assert b"d=portal.example" in raw and b"s=mail2026" in raw


def test_account_mail_is_signed_too(dkim_app, smtp):
    with dkim_app.app_context():
        enqueue("a@example.com", "Hello", "password_changed", kind="account.password-changed",
                reset_url="https://x.example/reset")
        _db.session.commit()
        deliver_due(dkim_app)
    raw = smtp.raw[0]
    assert dkim.verify(raw, dnsfunc=dkim_support.dnsfunc)


@pytest.mark.parametrize(("header", "forged"), [
    (b"List-Unsubscribe", b"List-Unsubscribe: <https://evil.example/u>"),
    (b"List-Unsubscribe-Post", b"List-Unsubscribe-Post: List-Unsubscribe=Nope"),
    (b"Subject", b"Subject: You won a prize"),
    (b"From", b"From: Someone Else <ceo@portal.example>"),
])
def test_altering_a_signed_header_breaks_the_signature(dkim_app, smtp, header, forged):
    with dkim_app.app_context():
        send_issue(1)
    raw = smtp.raw[0]
    assert dkim.verify(raw, dnsfunc=dkim_support.dnsfunc)
    head, body = raw.split(b"\r\n\r\n", 1)
    lines, out, skipping = head.split(b"\r\n"), [], False
    for line in lines:  # drop the header (and its folded continuation lines), add the forged one
        if line.lower().startswith(header.lower() + b":"):
            skipping = True
            out.append(forged)
            continue
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = False
        out.append(line)
    assert not dkim.verify(b"\r\n".join(out) + b"\r\n\r\n" + body, dnsfunc=dkim_support.dnsfunc)


def test_adding_a_list_unsubscribe_to_a_message_without_one_breaks_it(dkim_app, smtp):
    with dkim_app.app_context():
        enqueue("a@example.com", "Hello", "password_changed", kind="account.password-changed",
                reset_url="https://x.example/reset")
        _db.session.commit()
        deliver_due(dkim_app)
    raw = smtp.raw[0]
    assert not dkim.verify(b"List-Unsubscribe: <https://evil.example/>\r\n" + raw, dnsfunc=dkim_support.dnsfunc)


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"DKIM_DOMAIN": "portal.example"}, "needs all of"),
    ({**dkim_support.settings(), "DKIM_PRIVATE_KEY_FILE": "/nonexistent/dkim.key"}, "cannot read"),
    ({**dkim_support.settings(), "DKIM_DOMAIN": "not a domain"}, "DNS name"),
])
def test_bad_dkim_settings_are_refused_at_start(tmp_path, overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k" * 40,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **overrides})


def test_a_key_file_that_is_not_a_private_key_is_refused_at_start(tmp_path):
    bad = Path(tmp_path / "dkim.key")
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnot really\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k" * 40,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                    **{**dkim_support.settings(), "DKIM_PRIVATE_KEY_FILE": str(bad)}})


def test_the_dns_record_command_prints_what_the_stub_resolver_serves(dkim_app):
    result = dkim_app.test_cli_runner().invoke(args=["mail", "dkim-record"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("mail2026._domainkey.portal.example. IN TXT")
    joined = "".join(part for part in result.output.split('"')[1::2])
    assert joined.encode() == dkim_support.dnsfunc(b"mail2026._domainkey.portal.example.")
