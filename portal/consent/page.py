"""What every page needs from the consent system: the banner, the granted tags, a wider CSP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
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
    buttons: tuple[tuple[str, str], ...]
    decision: state.Decision | None
    tags: Tags
    next_path: str
    # The banner is back because the services changed since this earlier decision (else None).
    previous: state.Decision | None = None
    gpc: bool = False  # the browser sends Global Privacy Control (Sec-GPC: 1)
    # The banner's preferences panel: the categories on offer, their services and labels, and
    # which switches start on (the earlier choice when the banner is back after a revision).
    categories: tuple[str, ...] = ()
    services: tuple[registry.Service, ...] = ()
    switchable: tuple[registry.Service, ...] = ()
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    prefill: frozenset[str] = frozenset()
    prefill_off: frozenset[str] = frozenset()
    revision: str = ""  # of the registry the banner describes

    @cached_property
    def banner(self) -> texts.Banner:
        # Only when the banner is rendered, which for most requests is a copy (portal.consent.banner).
        return texts.banner(registry.registry(), current_app.config["SITE_NAME"])


def tags_for(granted: frozenset[str], off: frozenset[str] = frozenset()) -> Tags:
    services = tuple(s for s in registry.configured_services() if s.category in granted and s.id not in off)
    return tags_of(services, granted)


def tags_of(services: tuple[registry.Service, ...], granted: frozenset[str]) -> Tags:
    return Tags(
        services=services,
        google=any(s.google for s in services),
        google_update={"analytics_storage": "granted" if "analytics" in granted else "denied"},
    )


def allow_granted_sources() -> None:
    """before_request: widen the CSP by exactly the hosts of the granted services."""
    granted = state.granted_categories()
    if not granted:  # no decision, or nothing optional granted: the base policy
        return
    for service in tags_for(granted, state.services_off()).services:
        for directive, sources in service.csp:
            allow_source(directive, *sources)


def _next_path() -> str:
    path = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return safe_path(path)


def gpc_signal() -> bool:
    """Global Privacy Control: ``Sec-GPC: 1`` refuses every optional category until the person
    explicitly decides otherwise (a decision of their own, in the cookie, then counts)."""
    return request.headers.get("Sec-GPC", "").strip() == "1"


def previous_decision() -> state.Decision | None:
    """A valid decision for an older revision of the registry: why the banner asks again."""
    decision = state.cookie_decision()
    return decision if decision is not None and not decision.is_current else None


def context() -> dict[str, Any]:
    if not has_request_context() or request.blueprint == "static":
        return {}
    reg = registry.registry()
    decision = state.current_decision()
    gpc = gpc_signal()
    previous = previous_decision() if decision is None else None
    return {
        "consent": PageConsent(
            # Nothing to ask about (no optional service configured) means no banner at all, and
            # the cookie page is the full form already.
            # Global Privacy Control already said no: no banner, nothing optional loads.
            show_banner=(decision is None and not gpc and bool(reg.services)
                         and request.endpoint != "consent.cookies"),
            buttons=texts.BUTTONS,
            decision=decision,
            tags=tags_for(state.granted_categories(), state.services_off()),
            next_path=_next_path(),
            previous=previous,
            gpc=gpc,
            categories=tuple(reg.categories_in_use()),
            services=tuple(reg.services),
            switchable=reg.switchable(),
            labels=registry.CATEGORIES,
            prefill=previous.granted if previous is not None else frozenset(),
            prefill_off=previous.off if previous is not None else frozenset(),
            revision=reg.revision,
        )
    }
