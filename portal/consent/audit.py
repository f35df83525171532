"""The consent promise in ``flask privacy audit``: no tracker before consent, checked on the real page."""

from __future__ import annotations

from flask import Flask, current_app

from portal import audit
from portal.audit import Result, setting
from portal.consent.registry import GOOGLE_HOSTS, known_hosts


def tracker_hosts() -> list[str]:
    """Every host a gated service loads from, and Google's whether or not it is configured.

    A wildcard ("*.google-analytics.com") is checked as its parent domain, which also matches
    every subdomain in a page's text.
    """
    hosts = {host.removeprefix("*.") for host in (*GOOGLE_HOSTS, *known_hosts())}
    return sorted(hosts)


def check_trackers_behind_consent() -> Result:
    name = "trackers-behind-consent"
    # A fresh client has no consent cookie: exactly a first visit.
    response = current_app.test_client().get("/", headers={"Accept": "text/html"})
    if response.status_code != 200:
        return Result(name, False, f"the home page answered {response.status_code}; cannot verify")
    html = response.get_data(as_text=True).lower()
    csp = response.headers.get("Content-Security-Policy", "").lower()
    leaks = [h for h in tracker_hosts() if h in html or h in csp]
    if leaks:
        return Result(name, False, f"before any consent the home page references {', '.join(sorted(set(leaks)))}")
    configured = [k for k in ("GA_MEASUREMENT_ID", "GTM_CONTAINER_ID", "SMARTCHAT_KEY") if setting(k)]
    which = ", ".join(configured) if configured else "none configured"
    return Result(name, True, f"no tracker host in the home page or its CSP without consent (trackers: {which})")


def init_app(app: Flask) -> None:
    audit.register(app, check_trackers_behind_consent, 40)
