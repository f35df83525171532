"""compose(): every message parses back, stays within 998 octets a line and is 7-bit unless SMTPUTF8."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from portal.mail.compose import (
    AddressError,
    Composed,
    a_label_domain,
    compose,
    envelope_address,
    needs_smtputf8,
)

CZECH = "Příliš žluťoučký kůň úpěl ďábelské ódy"


def make(**overrides: object) -> Composed:
    values: dict[str, object] = {
        "sender": "Portal <no-reply@portal.example>",
        "to": "bob@example.org",
        "subject": "Hello",
        "text": "Hi Bob",
        "message_id_domain": "portal.example",
    }
    values.update(overrides)
    return compose(**values)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    return message


def longest_line(raw: bytes) -> int:
    return max(len(line) for line in raw.split(b"\r\n"))


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    # Decoded content keeps the wire's CRLF line ends; compare the text as it was written.
    return str(part.get_content()).replace("\r\n", "\n")


# -- addresses ------------------------------------------------------------------------------


def test_a_label_domain() -> None:
    assert a_label_domain("exämple.org") == "xn--exmple-cua.org"
    assert a_label_domain("EXÄMPLE.org") == "xn--exmple-cua.org"  # UTS 46 maps before encoding
    assert a_label_domain("Example.ORG") == "example.org"
    assert a_label_domain("xn--exmple-cua.org") == "xn--exmple-cua.org"


@pytest.mark.parametrize("domain", ["", "☃.net", "a_b.org", "-a.org", "example.org.", "xn--zz.org", "a..org", "x" * 64])
def test_a_label_domain_refuses_what_no_server_accepts(domain: str) -> None:
    with pytest.raises(AddressError):
        a_label_domain(domain)


def test_envelope_address_and_smtputf8() -> None:
    assert envelope_address("x@exämple.org") == "x@xn--exmple-cua.org"
    assert envelope_address("Jürgen <Jürgen@Exämple.org>") == "Jürgen@xn--exmple-cua.org"
    assert needs_smtputf8("ü@example.org") is True
    assert needs_smtputf8("x@exämple.org") is False
    assert needs_smtputf8("Jürgen <j@example.org>") is False


@pytest.mark.parametrize(
    "address",
    [
        "bob",
        "@example.org",
        "bob@",
        "bo b@example.org",
        "bob@example.org\r\nRCPT TO:<eve@x.org>",
        "a..b@example.org",
        "x" * 65 + "@example.org",
        "<bob@example.org",
    ],
)
def test_unusable_addresses_are_an_address_error(address: str) -> None:
    with pytest.raises(AddressError):
        envelope_address(address)


def test_quoted_local_part_is_kept_for_the_envelope() -> None:
    assert envelope_address('"john doe"@example.org') == '"john doe"@example.org'
    message = parse(make(to='"john doe"@example.org').raw)
    assert message["To"].addresses[0].username == "john doe"


# -- structure and encoding -----------------------------------------------------------------


def test_text_only_is_a_single_utf8_text_part() -> None:
    message = parse(make(text="Hi Bob\n").raw)
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message["MIME-Version"] == "1.0"
    assert body(message, "plain") == "Hi Bob\n"


def test_html_makes_multipart_alternative_text_first() -> None:
    message = parse(make(text="Plain ů", html="<p>HTML ů</p>").raw)
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())
    assert body(message, "plain") == "Plain ů\n" and body(message, "html") == "<p>HTML ů</p>\n"


def test_a_5000_character_line_without_spaces_stays_within_998_octets() -> None:
    text = "ž" + "y" * 4999
    composed = make(text=text, html="<p>" + "ů" * 5000 + "</p>")
    assert longest_line(composed.raw) <= 998
    assert composed.raw.isascii()
    message = parse(composed.raw)
    assert body(message, "plain") == text + "\n"
    assert all(part["Content-Transfer-Encoding"] in ("quoted-printable", "base64") for part in message.iter_parts())


def test_czech_text_is_7bit_with_encoded_subject() -> None:
    composed = make(subject=CZECH, text=CZECH + "\n", html=f"<p>{CZECH}</p>")
    assert composed.smtputf8 is False
    assert composed.raw.isascii()
    assert b"=?utf-8?" in composed.raw
    message = parse(composed.raw)
    assert message["Subject"] == CZECH
    assert body(message, "plain") == CZECH + "\n"


def test_a_long_subject_folds_and_keeps_every_space() -> None:
    subject = (CZECH + " ") * 12 + "konec"
    composed = make(subject=subject)
    assert longest_line(composed.raw) <= 998
    assert all(len(line) <= 78 for line in composed.raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    assert parse(composed.raw)["Subject"] == subject


def test_a_long_ascii_subject_and_a_long_unbreakable_word() -> None:
    words = "Your account " * 40
    assert parse(make(subject=words.strip()).raw)["Subject"] == words.strip()
    token = "x" * 2000
    composed = make(subject=token)
    assert longest_line(composed.raw) <= 998
    assert parse(composed.raw)["Subject"] == token


def test_long_extra_headers_fold_without_encoded_words() -> None:
    url = "https://portal.example/newsletter/unsubscribe/" + "t" * 150
    value = f"<{url}>, <mailto:unsubscribe@portal.example?subject={'s' * 60}>"
    composed = make(
        headers={
            "List-Unsubscribe": value,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": "Portal news <news.portal.example>",
            "Precedence": "bulk",
            "X-Portal-Note": " ".join(["word"] * 300),
        }
    )
    assert longest_line(composed.raw) <= 998
    head = composed.raw.split(b"\r\n\r\n")[0]
    # A client reads List-Unsubscribe as structured: the URL must be there literally.
    assert url.encode() in head and b"=?utf-8" not in head
    message = parse(composed.raw)
    assert message["List-Unsubscribe"] == value
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Portal news <news.portal.example>"
    assert message["Precedence"] == "bulk"
    assert message["X-Portal-Note"] == " ".join(["word"] * 300)


def test_non_ascii_extra_header_is_rfc2047() -> None:
    composed = make(headers={"X-Portal-Topic": "Novinky z Portálu"})
    assert composed.raw.isascii()
    assert parse(composed.raw)["X-Portal-Topic"] == "Novinky z Portálu"


def test_an_extra_word_longer_than_a_line_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than a mail line"):
        make(headers={"List-Unsubscribe": "<https://portal.example/" + "a" * 1000 + ">"})


# -- headers --------------------------------------------------------------------------------


def test_headers_and_auto_submitted() -> None:
    composed = make(headers={"List-Id": "<news.portal.example>"})
    message = parse(composed.raw)
    assert message["From"].addresses[0].display_name == "Portal"
    assert message["To"] == "bob@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] == composed.message_id
    assert re.fullmatch(r"<[^<>@\s]+@portal\.example>", composed.message_id)
    assert composed.envelope_to == "bob@example.org"
    assert parse(make(auto_submitted=False).raw)["Auto-Submitted"] is None


def test_message_ids_are_unique_and_on_the_given_domain() -> None:
    ids = {make(message_id_domain="pörtal.example").message_id for _ in range(50)}
    assert len(ids) == 50
    assert all(mid.endswith("@xn--prtal-jua.example>") for mid in ids)


def test_date_defaults_to_now_in_utc_with_a_numeric_offset() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    header = parse(make().raw)["Date"]
    assert str(header).endswith(" +0000")
    assert before <= header.datetime <= datetime.now(UTC)


def test_date_in_prague_carries_its_offset() -> None:
    prague = ZoneInfo("Europe/Prague")
    winter = parse(make(date=datetime(2025, 1, 15, 9, 30, tzinfo=prague)).raw)["Date"]
    summer = parse(make(date=datetime(2025, 7, 15, 9, 30, tzinfo=prague)).raw)["Date"]
    assert str(winter) == "Wed, 15 Jan 2025 09:30:00 +0100"
    assert str(summer) == "Tue, 15 Jul 2025 09:30:00 +0200"


def test_a_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make(date=datetime(2025, 1, 15, 9, 30))


def test_non_ascii_display_name_in_from_is_rfc2047() -> None:
    composed = make(sender="Portál Příliš <no-reply@portal.example>")
    assert composed.raw.isascii()
    sender = parse(composed.raw)["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Portál Příliš", "no-reply@portal.example")


def test_idn_domains_in_to_and_reply_to_become_a_labels() -> None:
    composed = make(to="x@exämple.org", reply_to="Antonín Dvořák, DPO <dpo@bücher.de>")
    assert composed.envelope_to == "x@xn--exmple-cua.org"
    assert composed.smtputf8 is False and composed.raw.isascii()
    message = parse(composed.raw)
    assert message["To"].addresses[0].addr_spec == "x@xn--exmple-cua.org"
    reply = message["Reply-To"].addresses[0]
    assert (reply.display_name, reply.addr_spec) == ("Antonín Dvořák, DPO", "dpo@xn--bcher-kva.de")


def test_ascii_display_names_with_specials_are_quoted() -> None:
    message = parse(make(reply_to='"Doe, John \\"JD\\"" <jd@example.org>').raw)
    assert message["Reply-To"].addresses[0].display_name == 'Doe, John "JD"'


def test_a_long_non_ascii_display_name_follows_rfc2047() -> None:
    name = "Ředitelství " + "Příliš žluťoučkého koně " * 6 + "a. s."
    composed = make(reply_to=f"{name} <dpo@example.org>")
    assert longest_line(composed.raw) <= 998
    head = composed.raw.split(b"\r\n\r\n")[0].decode("ascii")
    (field,) = re.findall(r"^Reply-To:(.*?)<dpo@example\.org>", head, flags=re.S | re.M)
    # Decoded the RFC 2047 way (whitespace between encoded words dropped), as mail clients do.
    assert str(make_header(decode_header(field.replace("\r\n", "").strip()))) == name
    assert all(len(word) <= 75 for word in re.findall(r"=\?[^?]+\?b\?[^?]*\?=", head))


def test_non_ascii_local_part_needs_smtputf8() -> None:
    composed = make(to="Jürgen <jürgen@exämple.org>", sender="no-reply@portal.example", subject="Grüße")
    assert composed.smtputf8 is True
    assert composed.envelope_to == "jürgen@xn--exmple-cua.org"
    assert "To: =?utf-8?b?SsO8cmdlbg==?= <jürgen@xn--exmple-cua.org>\r\n".encode() in composed.raw
    assert longest_line(composed.raw) <= 998
    # As a server that accepted SMTPUTF8 reads it: UTF-8 headers (RFC 6532).
    message = email.message_from_string(composed.raw.decode("utf-8"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"].addresses[0].addr_spec == "jürgen@xn--exmple-cua.org"
    assert message["Subject"] == "Grüße"
    # The body stays 7-bit even then: only the addresses need UTF-8.
    assert composed.raw.split(b"\r\n\r\n", 1)[1].isascii()


def test_reply_to_with_non_ascii_local_part_also_needs_smtputf8() -> None:
    assert make(reply_to="ü@example.org").smtputf8 is True


def test_crlf_line_ends_throughout() -> None:
    raw = make(text="one\ntwo\rthree\r\nfour", html="<p>x</p>\n<p>y</p>").raw
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert raw.endswith(b"\r\n")


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hi\r\nBcc: eve@example.org"},
        {"subject": "Hi\nBcc: eve@example.org"},
        {"subject": "Hi\u2028there"},
        {"to": "bob@example.org\r\nBcc: eve@example.org"},
        {"sender": "Portal\n <no-reply@portal.example>"},
        {"reply_to": "x@example.org\rBcc: eve@example.org"},
        {"headers": {"List-Id": "<a>\r\nBcc: eve@example.org"}},
        {"headers": {"X-Bad\r\nBcc": "eve@example.org"}},
    ],
)
def test_header_injection_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make(**overrides)


@pytest.mark.parametrize("name", ["From", "to", "Subject", "Bcc", "Content-Type", "MIME-Version", "Message-ID"])
def test_extra_headers_cannot_replace_our_own(name: str) -> None:
    with pytest.raises(ValueError, match="set by compose"):
        make(headers={name: "x"})

