"""FaultSMTP, proven with plain smtplib clients: each fault as a client sees it."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator

import pytest

from tests.faultsmtp import FaultSMTP

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"


@pytest.fixture(scope="module")
def server() -> Iterator[FaultSMTP]:
    with FaultSMTP() as smtp:
        yield smtp


@pytest.fixture
def fault(server: FaultSMTP) -> Iterator[FaultSMTP]:
    server.clear()
    yield server
    server.clear()


def client(server: FaultSMTP, timeout: float = 2.0) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", server.port, timeout=timeout)


def send(server: FaultSMTP, to: str = "b@example.org", message: bytes = MESSAGE, timeout: float = 2.0) -> None:
    with client(server, timeout) as smtp:
        smtp.sendmail("a@example.org", [to], message)


def test_normal_delivery_is_stored_with_its_envelope(fault: FaultSMTP) -> None:
    send(fault, to="B@Example.org")
    (message,) = fault.wait_for(1)
    assert message["Subject"] == "Hi"
    mail_from, rcpts, options = fault.envelopes[0]
    assert (mail_from, rcpts) == ("a@example.org", ["B@Example.org"])
    assert any(option.startswith("SIZE=") for option in options)  # smtplib always declares SIZE
    assert fault.delivered_to("b@example.org") == 1 and fault.delivered_to("c@example.org") == 0
    assert fault.connections == 1


def test_refused_connections_then_recovery_on_the_same_port(fault: FaultSMTP) -> None:
    port = fault.port
    with client(fault) as open_session:
        fault.refuse_connections()
        with pytest.raises(ConnectionRefusedError):
            client(fault)
        # A server that went down takes its open sessions with it.
        with pytest.raises(smtplib.SMTPServerDisconnected):
            open_session.noop()
    for _ in range(2):  # repeatedly: the port must be free to take again each time
        fault.refuse_connections(False)
        assert fault.port == port
        send(fault)
        fault.refuse_connections(True)
        with pytest.raises(ConnectionRefusedError):
            client(fault)
    fault.clear()  # listens again
    send(fault)
    assert fault.delivered_to("b@example.org") == 1 and fault.connections == 1


def test_temp_fail_at_rcpt_recovers_by_itself(fault: FaultSMTP) -> None:
    fault.temp_fail(451, seconds=1.0)
    started = time.monotonic()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(fault)
    assert refused.value.recipients == {"b@example.org": (451, b"4.3.0 Try again later")}
    time.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
    send(fault)
    assert fault.delivered_to("b@example.org") == 1


def test_ses_throttling_at_mail_and_temp_fail_after_data(fault: FaultSMTP) -> None:
    fault.temp_fail(454, "4.7.0 Throttling failure: Maximum sending rate exceeded", at="MAIL")
    with pytest.raises(smtplib.SMTPSenderRefused) as sender:
        send(fault)
    assert sender.value.smtp_code == 454 and b"Throttling" in sender.value.smtp_error
    fault.clear()
    fault.temp_fail(451, at="DATA")
    with pytest.raises(smtplib.SMTPDataError) as data:
        send(fault)
    assert data.value.smtp_code == 451
    assert fault.messages == []


def test_reject_is_permanent_and_per_recipient(fault: FaultSMTP) -> None:
    fault.reject("Bad@Example.org")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(fault, to="bad@example.org")
    assert refused.value.recipients == {"bad@example.org": (554, b"5.7.1 Rejected")}
    with client(fault) as smtp:
        failed = smtp.sendmail("a@example.org", ["bad@example.org", "good@example.org"], MESSAGE)
    assert failed == {"bad@example.org": (554, b"5.7.1 Rejected")}
    assert fault.delivered_to("good@example.org") == 1 and fault.delivered_to("bad@example.org") == 0


def test_421_at_rcpt_closes_the_connection(fault: FaultSMTP) -> None:
    fault.temp_fail(421, "4.7.0 Too many connections")
    with client(fault) as smtp:
        smtp.ehlo()
        assert smtp.mail("a@example.org")[0] == 250
        assert smtp.docmd("RCPT", "TO:<b@example.org>") == (421, b"4.7.0 Too many connections")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.noop()
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(fault)


def test_drop_after_data_stores_but_never_confirms(fault: FaultSMTP) -> None:
    fault.drop_after_data(count=1)
    with pytest.raises(smtplib.SMTPServerDisconnected, match=r"^Connection unexpectedly closed$"):
        send(fault)
    assert fault.delivered_to("b@example.org") == 1
    send(fault)  # count=1: the next one is confirmed
    assert fault.delivered_to("b@example.org") == 2 and fault.connections == 2


def test_hang_after_data_times_the_client_out_but_stores(fault: FaultSMTP) -> None:
    fault.hang_after_data(3.0)
    started = time.monotonic()
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
        send(fault, timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert fault.delivered_to("b@example.org") == 1
    fault.hang_after_data(0.3, count=1)
    started = time.monotonic()
    send(fault, timeout=2.0)  # a patient client gets the 250
    assert time.monotonic() - started >= 0.3


def test_max_line_length_refuses_long_lines_and_stores_nothing(fault: FaultSMTP) -> None:
    fault.max_line_length(998)
    long_line = MESSAGE + b"x" * 1500 + b"\r\n"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(fault, message=long_line)
    assert (refused.value.smtp_code, refused.value.smtp_error) == (500, b"5.5.2 Line too long")
    assert fault.messages == []
    # 998 octets exactly is fine, also when smtplib stuffs a leading dot (999 on the wire).
    send(fault, message=MESSAGE + b"y" * 998 + b"\r\n" + b"." + b"z" * 997 + b"\r\n")
    (message,) = fault.wait_for(1)
    assert "y" * 998 in str(message.get_content())
    fault.max_line_length(None)
    send(fault, message=long_line)
    assert len(fault.messages) == 2


def test_smtputf8_offered_by_default_and_recorded_in_the_envelope(fault: FaultSMTP) -> None:
    message = "From: ü@example.org\r\nTo: jürgen@example.org\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()
    with client(fault) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("smtputf8")
        smtp.sendmail("ü@example.org", ["jürgen@example.org"], message, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (stored,) = fault.wait_for(1)
    assert fault.envelopes[0][1] == ["jürgen@example.org"]
    assert {"SMTPUTF8", "BODY=8BITMIME"} <= set(fault.envelopes[0][2])
    assert stored["To"].addresses[0].username == "jürgen"


def test_smtputf8_withheld_is_refused_like_a_strict_server(fault: FaultSMTP) -> None:
    fault.offer_smtputf8(False)
    with client(fault) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("smtputf8")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            smtp.sendmail("a@example.org", ["b@example.org"], MESSAGE, mail_options=["SMTPUTF8"])
        assert smtp.docmd("MAIL", "FROM:<a@example.org> SMTPUTF8") == (501, b"Error: SMTPUTF8 disabled")
        smtp.rset()
        # smtplib would not even encode this command; a client that sends UTF-8 anyway:
        smtp.send("MAIL FROM:<ü@example.org>\r\n".encode())
        assert smtp.getreply() == (500, b"Error: strict ASCII mode")
    fault.clear()
    with client(fault) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("smtputf8")


def test_stop_with_a_session_open_and_a_fresh_start() -> None:
    smtp = FaultSMTP()
    smtp.start()
    session = client(smtp)
    session.ehlo()
    smtp.hang_after_data(5.0)
    smtp.stop()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        session.noop()
    session.close()
    port = smtp.port
    smtp.start()  # same object, same port, faults kept until clear()
    assert smtp.port == port
    smtp.clear()
    send(smtp)
    assert smtp.delivered_to("b@example.org") == 1
    smtp.stop()
