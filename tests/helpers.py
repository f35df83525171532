"""Test helpers: a real SMTP sink, CSRF-aware form posting, and an account journey helper."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"https?://[^\s<>\"']+")
PASSWORD = "correct horse battery staple 42"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address.lower() in self.sink.reject:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)  # type: ignore[arg-type]
            self.sink.raw.append(bytes(envelope.content))  # as received, for signature checks
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


class SMTPSink:
    """aiosmtpd on a free loopback port, collecting every message for assertions."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reject: set[str] = set()
        self.lock = threading.Lock()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.raw.clear()
            self.envelopes.clear()
            self.reject.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "message has no text/plain part"
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "message has no text/html part"
    return str(part.get_content())


def links(message: EmailMessage) -> list[str]:
    return LINK.findall(text_part(message))


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def csrf_token(client: Any, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = CSRF.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def post_form(client: Any, path: str, data: dict[str, Any], token_from: str | None = None, **kwargs: Any) -> Any:
    """POST a form the way a browser does: with the CSRF token of the page it came from."""
    data = dict(data)
    data.setdefault("csrf_token", csrf_token(client, token_from or path))
    return client.post(path, data=data, **kwargs)


class Auth:
    """Signs up, confirms (through the real email) and logs in, like a person would."""

    def __init__(self, client: Any, smtp: SMTPSink) -> None:
        self.client = client
        self.smtp = smtp

    def signup(self, email: str = "alice@example.com", password: str = PASSWORD, newsletter: bool = False) -> Any:
        data: dict[str, Any] = {"email": email, "password": password}
        if newsletter:
            data["newsletter"] = "y"
        return post_form(self.client, "/signup", data)

    def confirm(self, email: str = "alice@example.com") -> Any:
        message = self.smtp.to(email)[-1]
        link = next(u for u in links(message) if "/confirm/" in u)
        return self.client.get(path_of(link))

    def login(self, email: str = "alice@example.com", password: str = PASSWORD, next: str | None = None) -> Any:
        path = "/login" + (f"?next={next}" if next else "")
        return post_form(self.client, path, {"email": email, "password": password}, token_from="/login")

    def register(self, email: str = "alice@example.com", password: str = PASSWORD, newsletter: bool = False) -> Any:
        self.signup(email, password, newsletter)
        self.confirm(email)
        return self.login(email, password)

    def logout(self) -> Any:
        return post_form(self.client, "/logout", {}, token_from="/account")


def run_together(target: Callable[[int], object], count: int) -> None:
    """Run ``target(i)`` in ``count`` threads released at the same instant; any failure fails."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            target(i)
        except BaseException as error:  # collected: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
