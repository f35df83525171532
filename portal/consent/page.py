"""What every page needs from the consent system: the banner, the granted tags, a wider CSP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, has_request_context, request

from portal.consent import registry, state, texts
from portal.security.headers import allow_source
from portal.security.redirects import safe_path


@dataclass(frozen=True)
class Tags:
    services: tuple[registry.Service, ...]  # granted services, in registry order
    google: bool  # Consent Mode v2 must precede their tags
    google_update: dict[str, str]


@dataclass(frozen=True)
class PageConsent:
    show_banner: bool
    banner: texts.Banner
    buttons: tuple[tuple[str, str], ...]
    decision: state.Decision | None
    tags: Tags
    next_path: str


def tags_for(granted: frozenset[str]) -> Tags:
    services = tuple(s for s in registry.configured_services() if s.category in granted)
    return Tags(
        services=services,
        google=any(s.google for s in services),
        google_update={"analytics_storage": "granted" if "analytics" in granted else "denied"},
    )


def allow_granted_sources() -> None:
    """before_request: widen the CSP by exactly the hosts of the granted services."""
    for service in tags_for(state.granted_categories()).services:
        for directive, sources in service.csp:
            allow_source(directive, *sources)


def _next_path() -> str:
    path = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return safe_path(path)


def context() -> dict[str, Any]:
    if not has_request_context() or request.blueprint == "static":
        return {}
    reg = registry.registry()
    decision = state.current_decision()
    return {
        "consent": PageConsent(
            # Nothing to ask about (no optional service configured) means no banner at all, and
            # the cookie page is the full form already.
            show_banner=decision is None and bool(reg.services) and request.endpoint != "consent.cookies",
            banner=texts.banner(reg, current_app.config["SITE_NAME"]),
            buttons=texts.BUTTONS,
            decision=decision,
            tags=tags_for(state.granted_categories()),
            next_path=_next_path(),
        )
    }
