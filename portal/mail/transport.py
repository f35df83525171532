"""Handing one message to the mail server, and what the server's answer means: the one place.

The rules are the MTAs' (Postfix, Exim): a 4xx is "try later", for days; only a 5xx is final,
and only for the message it answered. Nothing is handed over before the end of DATA, so a failure
before that point is plainly retryable; once the final dot is sent, a missing reply (timeout,
dropped connection, reset) means the server may have the message: the outcome is *uncertain* and
the message must never be resent on its own (smtplib reports a read timeout as
``SMTPServerDisconnected``, which is why the DATA phase is driven here step by step).

Without ``MAIL_SERVER`` the transport is a folder (``instance/outbox``) that takes every message.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

log = logging.getLogger("portal.mail")

SENT, RETRY, FAILED, UNCERTAIN, NOT_WANTED = "sent", "retry", "failed", "uncertain", "not-wanted"
LINK = re.compile(rb"https?://[^\s<>\"']+")
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class Attempt:
    """What became of one handover. ``reply`` is the server's answer (never message content)."""

    result: str
    reply: str = ""
    # The server is unusable for now (down, 421, connection lost): stop this connection's batch.
    connection_lost: bool = False
    # The server said it is throttling us (421/451/454 with a rate or throttling text).
    throttled: bool = False
    # A 5xx answered RCPT TO: this recipient, not our sender or the message, was refused for good
    # (the address is then suppressed for bulk mail; see portal.mail.feedback).
    recipient_refused: bool = False


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)).replace("\r\n", " ")


def describe(code: int, reply: bytes | str) -> str:
    return f"{code} {_text(reply)}".strip()[:500]


def describe_error(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return describe(error.smtp_code, error.smtp_error)
    return f"{type(error).__name__}: {error}"[:500]


# SES: "454 Throttling failure: Maximum sending rate exceeded"; Gmail: "421 4.7.28 ... rate limited";
# Postfix/Exim policy services: "450 4.7.1 ... too many connections", "slow down".
_THROTTLING = re.compile(r"throttl|\brate\b|rate limit|too many|slow down", re.IGNORECASE)


def classify(code: int, reply: bytes | str, *, after_data: bool = False) -> Attempt:
    """A reply code at any stage. ``after_data``: the answer to the end of DATA."""
    text = describe(code, reply)
    if 200 <= code < 300 and after_data:
        return Attempt(SENT, text)
    if 400 <= code < 500:
        throttled = (code in (421, 450, 451, 452, 454) and bool(_THROTTLING.search(text))) or code == 454
        return Attempt(RETRY, text, connection_lost=code == 421, throttled=throttled)
    if code >= 500:
        return Attempt(FAILED, text)
    # Anything else where a specific answer was expected is a protocol mix-up: try again later.
    return Attempt(RETRY, text, connection_lost=True)


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str
    raw: bytes
    smtputf8: bool = False


class Transport(Protocol):
    def deliver(self, envelope: Envelope, commit_mark: Callable[[], bool],
                before_data: Callable[[], None] = ...) -> Attempt: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class SMTPSettings:
    host: str
    port: int
    timeout: float
    use_ssl: bool = False
    use_tls: bool = False
    username: str | None = None
    password: str | None = None
    local_hostname: str | None = None


class SMTPTransport:
    """One connection to the server, reused for many messages (one recipient each)."""

    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings
        self.host: smtplib.SMTP | None = None

    def connect(self) -> Attempt | None:
        """Open the connection; an Attempt (retry, connection lost) when the server is not usable."""
        s = self.settings
        try:
            if s.use_ssl:
                self.host = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, local_hostname=s.local_hostname,
                                             context=ssl.create_default_context())
            else:
                self.host = smtplib.SMTP(s.host, s.port, timeout=s.timeout, local_hostname=s.local_hostname)
            self.host.ehlo_or_helo_if_needed()
            if s.use_tls:
                self.host.starttls(context=ssl.create_default_context())
                self.host.ehlo()
            if s.username and s.password:
                self.host.login(s.username, s.password)
        except smtplib.SMTPConnectError as error:  # the greeting was not 220 (e.g. 421, 554)
            self.close()
            return Attempt(RETRY, describe_error(error), connection_lost=True, throttled=error.smtp_code in (421, 454))
        except (smtplib.SMTPException, OSError) as error:
            # Refused, unreachable, TLS or authentication trouble: nothing was handed over. An
            # authentication refusal is the operator's to fix, and the messages wait meanwhile.
            self.close()
            return Attempt(RETRY, describe_error(error), connection_lost=True)
        return None

    @property
    def offers_smtputf8(self) -> bool:
        return self.host is not None and self.host.has_extn("smtputf8")

    def deliver(self, envelope: Envelope, commit_mark: Callable[[], bool],
                before_data: Callable[[], None] = lambda: None) -> Attempt:
        """MAIL, RCPT, then — only if ``commit_mark()`` durably recorded "sending" — DATA.

        ``commit_mark`` is called after the envelope has been sent, so a caller may run the
        commit on another thread while the two round trips are under way; ``before_data`` runs
        once the mark is durable and DATA is about to start (the engine starts the next
        message's commit there)."""
        host = self.host
        assert host is not None, "connect() first"
        options: list[str] = []
        if envelope.smtputf8:
            if not self.offers_smtputf8:
                commit_mark()
                return Attempt(FAILED, "the mail server does not offer SMTPUTF8, needed for this address")
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        try:
            code, reply = host.mail(envelope.sender, options)
            refusal = None if code == 250 else classify(code, reply)
            if refusal is None:
                code, reply = host.rcpt(envelope.recipient)
                refusal = None if code in (250, 251) else classify(code, reply)
                if refusal is not None and refusal.result == FAILED:
                    refusal = replace(refusal, recipient_refused=True)
        except UnicodeError as error:  # an address smtplib cannot put on the wire without SMTPUTF8
            commit_mark()
            self._reset()
            return Attempt(FAILED, describe_error(error))
        except (smtplib.SMTPException, OSError) as error:
            commit_mark()  # the caller's pending commit must finish before it is told what happened
            self.close()
            return Attempt(RETRY, describe_error(error), connection_lost=True)
        wanted = commit_mark()
        if refusal is not None or not wanted:
            self._reset()
            if refusal is None:
                return Attempt(NOT_WANTED)
            return refusal
        before_data()
        return self._data(host, envelope.raw)

    def _data(self, host: smtplib.SMTP, raw: bytes) -> Attempt:
        try:
            code, reply = host.docmd("DATA")
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            return Attempt(RETRY, describe_error(error), connection_lost=True)
        if code != 354:
            self._reset()
            return classify(code, reply)
        payload = _LEADING_DOT.sub(b"..", raw)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        try:
            host.send(payload + b".\r\n")
        except (smtplib.SMTPException, OSError) as error:
            # Not all of it left: without the final dot the server cannot have accepted it.
            self.close()
            return Attempt(RETRY, describe_error(error), connection_lost=True)
        try:
            code, reply = host.getreply()
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            return Attempt(UNCERTAIN, "no reply after the message was handed over: " + describe_error(error),
                           connection_lost=True)
        return classify(code, reply, after_data=True)

    def _reset(self) -> None:
        try:
            if self.host is not None:
                self.host.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        host, self.host = self.host, None
        if host is None:
            return
        try:
            host.quit()
        except (smtplib.SMTPException, OSError):
            host.close()


class FolderTransport:
    """``instance/outbox``: every message becomes an .eml file (mode 0600). In development the links
    are logged, so a newcomer can finish signing up without a mail server."""

    def __init__(self, folder: Path, log_links: bool) -> None:
        self.folder = folder
        self.log_links = log_links

    def connect(self) -> Attempt | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return Attempt(RETRY, describe_error(error), connection_lost=True)
        return None

    offers_smtputf8 = True

    def deliver(self, envelope: Envelope, commit_mark: Callable[[], bool],
                before_data: Callable[[], None] = lambda: None) -> Attempt:
        if not commit_mark():
            return Attempt(NOT_WANTED)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(envelope.raw)
        except OSError as error:
            return Attempt(RETRY, describe_error(error), connection_lost=True)
        if self.log_links:
            links = " ".join(m.decode("ascii", "replace") for m in LINK.findall(_plain_text(envelope.raw)))
            log.info("No MAIL_SERVER: message to %s written to %s; links: %s", envelope.recipient, path,
                     links or "none", extra={"portal_unredacted": True})
        else:
            log.warning("No MAIL_SERVER: message written to %s", path)
        return Attempt(SENT, f"250 written to {path.name}")

    def close(self) -> None:
        pass


def _plain_text(raw: bytes) -> bytes:
    """The decoded text part, so quoted-printable soft breaks do not cut the logged links."""
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    body = message.get_body(preferencelist=("plain",))
    return str(body.get_content()).encode() if body is not None else raw
