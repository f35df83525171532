"""Who is asking: the client address as the trusted proxy chain reports it."""

from __future__ import annotations

from flask import request


def client_ip() -> str:
    # ProxyFix (driven by TRUSTED_PROXY_COUNT) has already replaced remote_addr with the address
    # the trusted proxy saw; X-Forwarded-For is never read here, so it cannot be spoofed.
    return request.remote_addr or "unknown"


def user_agent(limit: int = 256) -> str:
    return (request.user_agent.string or "")[:limit]
