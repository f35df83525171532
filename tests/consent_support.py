"""Helpers for the consent tests: configured vendors, deciding like a browser, spotting trackers."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers import csrf_token

SMARTCHAT_URL = "https://widget.smartchat.example/loader.js"
ALL_VENDORS: dict[str, Any] = {
    "GA_MEASUREMENT_ID": "G-TEST123",
    "GTM_CONTAINER_ID": "GTM-TEST123",
    "SMARTCHAT_KEY": "test-key",
    "SMARTCHAT_SCRIPT_URL": SMARTCHAT_URL,
}
# Whatever a tracker tag would contain; none of it may be on a page before consent.
TRACKER_MARKERS = ("googletagmanager", "google-analytics", "analytics.google", "gtag(", "smartchat.example",
                   "G-TEST123", "GTM-TEST123", "data-consent-service", "data-consent-mode")
SCRIPT_BLOCK = re.compile(r"<script\b.*?</script>", re.S)
URL_ATTR = re.compile(r"""\b(?:src|href|action|data|srcset|formaction)\s*=\s*["']?([^"'\s>]+)""")
NONCE = re.compile(r"'nonce-([^']+)'")


def decide(client: Any, action: str, *categories: str, next: str = "/", token_from: str = "/cookies",  # noqa: S107
           **kw: Any) -> Any:
    data = {"action": action, "next": next, "csrf_token": csrf_token(client, token_from)}
    data.update({c: "1" for c in categories})
    return client.post("/consent", data=data, **kw)


def csp(response: Any) -> str:
    return str(response.headers["Content-Security-Policy"])


def nonce_of(response: Any) -> str:
    match = NONCE.search(csp(response))
    assert match, csp(response)
    return match.group(1)


def tracker_free(response: Any, hosts: set[str]) -> list[str]:
    """Every trace of a tracker in the page or its CSP; an empty list means clean."""
    page, policy = response.get_data(as_text=True), csp(response)
    # Where a page could load or run something: scripts, and every URL-bearing attribute. (The
    # cookie policy names the vendors' hosts in prose, which loads nothing.)
    active = "\n".join(SCRIPT_BLOCK.findall(page) + URL_ATTR.findall(page))
    found = [m for m in TRACKER_MARKERS if m in active]
    found += [f"csp:{h}" for h in hosts if h.removeprefix("*.") in policy]
    found += ["csp:google"] if "google" in policy else []
    return found


def scripts(page: str) -> list[str]:
    """The opening <script ...> tags of a page, in document order."""
    return re.findall(r"<script\b[^>]*>", page)


def set_cookies(response: Any) -> list[str]:
    return list(response.headers.getlist("Set-Cookie"))
