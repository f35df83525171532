"""Request details as they are stored: bounded, printable, and safe for every database.

PostgreSQL refuses NUL in text and enforces column lengths; a forged User-Agent or a
misconfigured proxy's X-Forwarded-For must not turn a login into a 500.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from portal.security.client import client_ip, user_agent

IP_LENGTH = 64
USER_AGENT_LENGTH = 256


def printable(value: str, limit: int) -> str:
    return "".join(ch for ch in value if ch.isprintable())[:limit]


def stored_ip() -> str:
    raw = client_ip()
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        # Not an address (a broken proxy header): keep a bounded, printable trace of it.
        return printable(raw, IP_LENGTH) or "unknown"


def stored_user_agent() -> str:
    return printable(user_agent(USER_AGENT_LENGTH * 4), USER_AGENT_LENGTH)


@dataclass(frozen=True)
class Client:
    """Who is asking, as the services store it: views build it, services take it as a value."""

    ip: str
    user_agent: str = ""


def this_client() -> Client:
    """The current request's client (for views; services never read the request themselves)."""
    return Client(stored_ip(), stored_user_agent())
