"""FaultSMTP: aiosmtpd on loopback that collects messages and misbehaves on request.

Every fault is switched from the test thread while the server runs in its own thread; all
of them are reset by ``clear()``. What an ``smtplib.SMTP`` client sees (proven in
tests/test_faultsmtp.py):

============================  =============================================================
fault                         client side
============================  =============================================================
refuse_connections()          ``ConnectionRefusedError`` from ``smtplib.SMTP(host, port)``;
                              an open session is closed, so its next command raises
                              ``SMTPServerDisconnected``
temp_fail(at="RCPT")          ``SMTPRecipientsRefused`` {rcpt: (451, b"4.3.0 ...")} from
                              ``sendmail`` (one recipient; several: only the failed ones in
                              the dict, no exception while one is accepted)
temp_fail(at="MAIL")          ``SMTPSenderRefused`` (code, text, sender)
temp_fail(at="DATA")          ``SMTPDataError`` (code, text); nothing stored
temp_fail(421, ...)           the 421 reply, then the server closes: ``sendmail`` raises as
                              above (and closes the client), a raw ``docmd`` gets
                              (421, text) and the next command ``SMTPServerDisconnected``
reject(addr)                  ``SMTPRecipientsRefused`` {addr: (554, b"5.7.1 Rejected")}
drop_after_data()             ``SMTPServerDisconnected("Connection unexpectedly closed")``;
                              the message *is* stored (a retry would duplicate it)
hang_after_data(s)            with a client timeout < s: ``SMTPServerDisconnected(
                              "Connection unexpectedly closed: timed out")`` -- smtplib
                              turns the socket's ``TimeoutError`` into that; the message is
                              stored. With a timeout > s: 250 after s seconds.
max_line_length(998)          ``SMTPDataError(500, b"5.5.2 Line too long")``; not stored
offer_smtputf8(False)         EHLO lacks SMTPUTF8; ``sendmail(..., mail_options=["SMTPUTF8"])``
                              raises ``SMTPNotSupportedError`` in the client before sending;
                              a raw ``MAIL FROM:<a@b> SMTPUTF8`` gets (501, b"Error: SMTPUTF8
                              disabled"), and a non-ASCII command (500, b"Error: strict ASCII
                              mode")
============================  =============================================================

aiosmtpd 1.4.6 facts this relies on (read from aiosmtpd/smtp.py and controller.py):

* Its own DATA limit is ``SMTP.line_length_limit = 1001`` octets *including* CRLF and the
  transparency dot, i.e. 999 octets of text on the wire: one more than RFC 5321 allows and
  dependent on dot-stuffing. FaultSMTP raises that limit to 1 MiB so aiosmtpd never applies
  it, and measures lines itself, after un-stuffing, only while ``max_line_length`` is set.
  Without it, lines of any length (up to 1 MiB) are accepted.
* A Controller cannot be restarted (``stop()`` closes its event loop), and ``start()`` opens
  one connection of its own to check the server answers; that one is not counted in
  ``connections``. ``server_kwargs`` is deprecated (a DeprecationWarning, i.e. an error under
  ``-W error``): SMTP options go straight to the Controller.
* A handle_MAIL/handle_RCPT hook replaces the default action, so the hooks below record
  mail_from/rcpt_tos themselves. SMTPUTF8 is an SMTP constructor argument, read per
  connection, so ``offer_smtputf8`` applies from the next connection on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from typing import TypeVar

import idna
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

T = TypeVar("T")
STAGES = ("MAIL", "RCPT", "DATA")
HOST = "127.0.0.1"


@dataclass
class _Temporary:
    code: int
    text: str
    until: float | None  # time.monotonic() deadline; None = until cleared


@dataclass
class _Counted:
    remaining: int | None  # None = every message until cleared
    seconds: float = 0.0


def _normal(address: str) -> str:
    """Case-insensitive, U-label or A-label: the same mailbox compares equal."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if not domain.isascii():
        # Not encodable: compare as given, such an address never matched anything anyway.
        with contextlib.suppress(idna.IDNAError):
            domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local}@{domain}".lower()


class _Protocol(SMTP):
    # aiosmtpd's own line check (1001 octets with CRLF and the stuffing dot) would answer
    # before ours and not at 998; with this limit it never fires and _Handler measures.
    line_length_limit = 1 << 20

    def __init__(self, owner: FaultSMTP, handler: _Handler, **kwargs: object) -> None:
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._owner._connected(self, transport.get_extra_info("peername"))

    def connection_lost(self, error: Exception | None) -> None:
        self._owner._disconnected(self)
        super().connection_lost(error)


class _Handler:
    def __init__(self, owner: FaultSMTP) -> None:
        self.owner = owner

    async def _temporary(self, server: SMTP, stage: str) -> str | None:
        fault = self.owner._temporary(stage)
        if fault is None:
            return None
        reply = f"{fault.code} {fault.text}"
        if fault.code == 421 and server.transport is not None:
            # 421 means "closing the transmission channel" (RFC 5321 3.8): say it, then do it.
            # aiosmtpd then writes our returned reply into the closed transport, which asyncio
            # drops silently, and the session task ends cancelled.
            await server.push(reply)
            server.transport.close()
        return reply

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        failed = await self._temporary(server, "MAIL")
        if failed:
            return failed
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        failed = await self._temporary(server, "RCPT")
        if failed:
            return failed
        rejected = self.owner._rejected(address)
        if rejected:
            return rejected
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        limit = self.owner._line_limit()
        if limit is not None and max(map(len, content.split(b"\r\n")), default=0) > limit:
            return "500 5.5.2 Line too long"
        failed = await self._temporary(server, "DATA")
        if failed:
            return failed
        mail_from = envelope.mail_from or ""
        self.owner._store(content, mail_from, list(envelope.rcpt_tos), list(envelope.mail_options))
        if self.owner._take(self.owner._drops) and server.transport is not None:
            # Stored but never confirmed: the reply returned below goes into a closed transport.
            server.transport.close()
        else:
            hang = self.owner._take(self.owner._hangs)
            if hang is not None:
                await asyncio.sleep(hang.seconds)
        return "250 2.0.0 OK"


class _Controller(Controller):
    def __init__(self, owner: FaultSMTP, handler: _Handler, port: int) -> None:
        # server_hostname: without it aiosmtpd calls socket.getfqdn(), a DNS lookup per session.
        super().__init__(handler, hostname=HOST, port=port, server_hostname="faultsmtp.test", ready_timeout=5.0)
        self.owner = owner

    def factory(self) -> _Protocol:
        kwargs = dict(self.SMTP_kwargs)
        kwargs["enable_SMTPUTF8"] = self.owner._smtputf8_offered()
        return _Protocol(self.owner, self.handler, loop=self.loop, **kwargs)

    def _create_server(self) -> Coroutine[object, object, asyncio.AbstractServer]:
        # Bind ourselves: port 0 gives a free port without the race of probing first, and
        # SO_REUSEADDR lets a restart take the same port while old sessions sit in TIME_WAIT.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock)

    def _trigger_server(self) -> None:
        # Controller.start() connects once to check the server answers. Binding first tells
        # us that connection's port before the server sees it, so it is not counted.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.bind((HOST, 0))
            self.owner._probe_ports.add(sock.getsockname()[1])
            sock.connect((HOST, self.port))
            sock.recv(1024)

    async def pause(self, sessions: list[_Protocol]) -> None:
        assert self.server is not None
        self.server.close()
        await _close_sessions(sessions)

    async def resume(self) -> None:
        self.server = await self._create_server()


async def _close_sessions(sessions: list[_Protocol]) -> None:
    for session in sessions:
        if session.transport is not None:
            session.transport.close()
    # Wait for connection_lost, so no transport is left for the garbage collector to warn about.
    deadline = time.monotonic() + 2.0
    while any(session.transport is not None for session in sessions) and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


class FaultSMTP:
    """aiosmtpd on 127.0.0.1 that stores what it accepts and injects faults on request."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str], list[str]]] = []
        self._lock = threading.Condition()
        self._controller: _Controller | None = None
        self._sessions: list[_Protocol] = []
        self._probe_ports: set[int] = set()
        self._connections = 0
        self._refusing = False
        self._reset_faults()

    def _reset_faults(self) -> None:
        self._temporaries: dict[str, _Temporary] = {}
        self._rejects: dict[str, str] = {}
        self._drops: _Counted | None = None
        self._hangs: _Counted | None = None
        self._max_line: int | None = None
        self._offer_smtputf8 = True

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        assert self._controller is None, "FaultSMTP already started"
        controller = _Controller(self, _Handler(self), self.port)
        controller.start()
        self._controller = controller
        self.port = controller.port
        self._refusing = False

    def stop(self) -> None:
        controller = self._controller
        if controller is None:
            return
        with self._lock:
            sessions = list(self._sessions)
        self._run(controller, lambda: _close_sessions(sessions))
        controller.stop()
        self._controller = None

    def clear(self) -> None:
        """Forget messages, envelopes and the connection count; switch every fault off."""
        self.refuse_connections(False)
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()
            self._connections = 0
            self._reset_faults()

    def __enter__(self) -> FaultSMTP:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what was delivered ---------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Connections accepted since start() or clear(); start()'s own probe not included."""
        with self._lock:
            return self._connections

    def delivered_to(self, address: str) -> int:
        wanted = _normal(address)
        with self._lock:
            return sum(1 for _, rcpts, _ in self.envelopes for rcpt in rcpts if _normal(rcpt) == wanted)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} messages within {timeout}s, got {len(self.messages)}")
            return list(self.messages)

    # -- faults ---------------------------------------------------------------------------

    def refuse_connections(self, on: bool = True) -> None:
        """Stop listening (connection refused) and close open sessions, as a server that went
        down; ``False`` listens again on the same port."""
        controller = self._controller
        if controller is None or on == self._refusing:
            return
        if on:
            with self._lock:
                sessions = list(self._sessions)
            self._run(controller, lambda: controller.pause(sessions))
        else:
            self._run(controller, controller.resume)
        self._refusing = on

    def temp_fail(
        self, code: int = 451, text: str = "4.3.0 Try again later", seconds: float | None = None, at: str = "RCPT"
    ) -> None:
        """Answer ``code`` at MAIL, RCPT or DATA (the reply after the data) for ``seconds``
        (None: until cleared). 421 also closes the connection, as servers do."""
        stage = at.upper()
        if stage not in STAGES:
            raise ValueError(f"at must be one of {STAGES}")
        with self._lock:
            until = None if seconds is None else time.monotonic() + seconds
            self._temporaries[stage] = _Temporary(code, text, until)

    def reject(self, *addresses: str, code: int = 554, text: str = "5.7.1 Rejected") -> None:
        """Refuse these recipients at RCPT, permanently (case-insensitive)."""
        with self._lock:
            for address in addresses:
                self._rejects[_normal(address)] = f"{code} {text}"

    def drop_after_data(self, count: int | None = None) -> None:
        """Store the next ``count`` messages (None: all) but close instead of replying 250."""
        with self._lock:
            self._drops = _Counted(count)

    def hang_after_data(self, seconds: float, count: int | None = None) -> None:
        """Store the next ``count`` messages (None: all) and reply 250 only after ``seconds``."""
        with self._lock:
            self._hangs = _Counted(count, seconds)

    def max_line_length(self, octets: int | None = 998) -> None:
        """Refuse, after the data, a message with a line longer than ``octets`` (CRLF and the
        transparency dot not counted, RFC 5321 4.5.3.1.6); None switches the check off."""
        with self._lock:
            self._max_line = octets

    def offer_smtputf8(self, on: bool) -> None:
        """Whether EHLO offers SMTPUTF8, from the next connection on (default: offered)."""
        with self._lock:
            self._offer_smtputf8 = on

    # -- called from the server thread ----------------------------------------------------

    def _run(self, controller: _Controller, make: Callable[[], Coroutine[object, object, T]]) -> T:
        return asyncio.run_coroutine_threadsafe(make(), controller.loop).result(timeout=10)

    def _connected(self, session: _Protocol, peer: tuple[str, int]) -> None:
        with self._lock:
            self._sessions.append(session)
            if peer[1] in self._probe_ports:
                self._probe_ports.discard(peer[1])
            else:
                self._connections += 1

    def _disconnected(self, session: _Protocol) -> None:
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)

    def _temporary(self, stage: str) -> _Temporary | None:
        with self._lock:
            fault = self._temporaries.get(stage)
            if fault is not None and fault.until is not None and time.monotonic() >= fault.until:
                # Recovered by itself, as a throttled server does once the window has passed.
                del self._temporaries[stage]
                return None
            return fault

    def _rejected(self, address: str) -> str | None:
        with self._lock:
            return self._rejects.get(_normal(address))

    def _line_limit(self) -> int | None:
        with self._lock:
            return self._max_line

    def _smtputf8_offered(self) -> bool:
        with self._lock:
            return self._offer_smtputf8

    def _take(self, counted: _Counted | None) -> _Counted | None:
        """The fault if it still applies to this message, counting it down."""
        with self._lock:
            if counted is None or counted.remaining == 0:
                return None
            if counted.remaining is not None:
                counted.remaining -= 1
            return counted

    def _store(self, content: bytes, mail_from: str, rcpt_tos: list[str], mail_options: list[str]) -> None:
        if "SMTPUTF8" in mail_options:
            # RFC 6532 headers are UTF-8; message_from_bytes would leave them as surrogates.
            message = message_from_string(content.decode("utf-8", "surrogateescape"), policy=policy.default)
        else:
            message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((mail_from, rcpt_tos, mail_options))
            self._lock.notify_all()
