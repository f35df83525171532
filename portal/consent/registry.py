"""The service registry: every third-party service the portal may load, in one place.

A service exists only when its settings are set, so an unconfigured vendor is absent from the
pages, the CSP, the cookie policy and the consent revision alike. Operators declare more services
in ``CONSENT_SERVICES`` (instance/config.py) without touching code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from portal import cookies
from portal.config import ENV_PREFIX, ConfigError
from portal.translate import lazy_gettext as _l

NECESSARY = "necessary"
OPTIONAL_CATEGORIES = ("analytics", "chat")
# Lazy translations: read in the page's language; the revision is computed from the English.
CATEGORIES: dict[str, tuple[Any, Any]] = {
    NECESSARY: (
        _l("Necessary"),
        _l("Keep you signed in, protect forms against forgery and remember your cookie choice. "
           "The portal cannot work without them, so they cannot be switched off."),
    ),
    "analytics": (
        _l("Analytics"),
        _l("Count visits and show us which pages are hard to use, so we can improve them."),
    ),
    "chat": (
        _l("Chat"),
        _l("A live-chat window for talking to us; the chat provider stores its own cookies."),
    ),
}
GA_ID = re.compile(r"^G-[A-Z0-9]{4,20}$")
GTM_ID = re.compile(r"^GTM-[A-Z0-9]{4,20}$")
COOKIE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}\*?$")
HOST = re.compile(r"^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+$")
SERVICE_KEYS = {"id", "category", "vendor", "name", "purpose", "cookies", "hosts", "script_url", "privacy_url"}


@dataclass(frozen=True)
class CookieSpec:
    name: str  # exact name, or a prefix ending in "*"
    lifetime: Any  # text, or a lazy translation
    purpose: Any

    @property
    def is_pattern(self) -> bool:
        return self.name.endswith("*")

    def matches(self, name: str) -> bool:
        return fnmatchcase(name, self.name)


@dataclass(frozen=True)
class Service:
    id: str
    category: str
    vendor: str
    purpose: Any  # text, or a lazy translation
    cookies: tuple[CookieSpec, ...]
    hosts: tuple[str, ...]
    # CSP directive -> sources added to the response once the category is granted.
    csp: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tag: str = "consent/tags/script.html"  # the template that renders the tag
    params: tuple[tuple[str, str], ...] = ()  # values the tag template reads
    google: bool = False  # needs Google Consent Mode v2 before its tag
    privacy_url: str | None = None
    name: str = ""  # the product, when the vendor sells several ("Google Tag Manager")

    @property
    def title(self) -> str:
        return self.name or self.vendor

    @property
    def param(self) -> dict[str, str]:
        return dict(self.params)

    def describe(self) -> dict[str, Any]:
        """What people were shown about the service; part of the revision and the proof."""
        return {
            "id": self.id,
            "category": self.category,
            "vendor": self.vendor,
            "name": self.name,
            "purpose": str(self.purpose),
            "cookies": [[c.name, str(c.lifetime), str(c.purpose)] for c in self.cookies],
            "hosts": list(self.hosts),
        }


@dataclass(frozen=True)
class Registry:
    services: tuple[Service, ...]
    necessary: tuple[CookieSpec, ...]
    revision: str = field(default="")

    def categories_in_use(self) -> list[str]:
        return [c for c in OPTIONAL_CATEGORIES if any(s.category == c for s in self.services)]

    def switchable(self) -> tuple[Service, ...]:
        """Services with a switch of their own: those sharing a category with another service
        (a category's only service is switched by the category itself)."""
        return tuple(s for s in self.services if sum(o.category == s.category for o in self.services) > 1)

    def describe(self) -> dict[str, Any]:
        return {
            "categories": {k: [str(part) for part in v] for k, v in CATEGORIES.items()},
            "necessary": [[c.name, str(c.lifetime), str(c.purpose)] for c in self.necessary],
            "services": [s.describe() for s in self.services],
        }


# GA4 and GTM load from and report to the same Google hosts.
GOOGLE_HOSTS = ("www.googletagmanager.com", "*.google-analytics.com", "*.analytics.google.com")
GOOGLE_CSP = (
    ("script-src", ("https://www.googletagmanager.com",)),
    ("connect-src", ("https://*.google-analytics.com", "https://*.analytics.google.com",
                     "https://www.googletagmanager.com")),
    ("img-src", ("https://*.google-analytics.com", "https://www.googletagmanager.com")),
)


def _google_services(config: Mapping[str, Any]) -> list[Service]:
    services = []
    ga_id = config.get("GA_MEASUREMENT_ID")
    gtm_id = config.get("GTM_CONTAINER_ID")
    analytics_cookies = (
        CookieSpec("_ga", _l("2 years"), _l("Tells visitors apart for visit statistics (random id).")),
    )
    if ga_id:
        if not isinstance(ga_id, str) or not GA_ID.match(ga_id):
            raise ConfigError(f"{ENV_PREFIX}GA_MEASUREMENT_ID: expected an id like G-ABC123XYZ, got {ga_id!r}")
        services.append(
            Service(
                id="ga4",
                category="analytics",
                vendor="Google Ireland Ltd.",
                name="Google Analytics 4",
                purpose=_l("Visit statistics: which pages are used and where people get stuck."),
                cookies=(
                    *analytics_cookies,
                    CookieSpec(f"_ga_{ga_id[2:]}", _l("2 years"), _l("Keeps the state of your current visit.")),
                    CookieSpec("_ga_*", _l("2 years"), _l("Visit state of other Google Analytics properties.")),
                ),
                hosts=GOOGLE_HOSTS,
                csp=GOOGLE_CSP,
                tag="consent/tags/ga4.html",
                params=(("measurement_id", ga_id),),
                google=True,
                privacy_url="https://policies.google.com/privacy",
            )
        )
    if gtm_id:
        if not isinstance(gtm_id, str) or not GTM_ID.match(gtm_id):
            raise ConfigError(f"{ENV_PREFIX}GTM_CONTAINER_ID: expected an id like GTM-ABC1234, got {gtm_id!r}")
        services.append(
            Service(
                id="gtm",
                category="analytics",
                vendor="Google Ireland Ltd.",
                name="Google Tag Manager",
                purpose=_l("Loads the measurement tags configured in our tag container."),
                cookies=(
                    *analytics_cookies,
                    CookieSpec("_gid", _l("24 hours"), _l("Tells visitors apart for one day.")),
                    CookieSpec("_gat*", _l("1 minute"), _l("Limits how often statistics are sent.")),
                ),
                hosts=GOOGLE_HOSTS,
                csp=GOOGLE_CSP,
                tag="consent/tags/gtm.html",
                params=(("container_id", gtm_id),),
                google=True,
                privacy_url="https://policies.google.com/privacy",
            )
        )
    return services


def _https_url(key: str, value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme != "https" or not parts.hostname or any(c in value for c in "\"'<> "):
        raise ConfigError(f"{ENV_PREFIX}{key}: must be an https:// URL, got {value!r}")
    return value


def _smartchat(config: Mapping[str, Any]) -> list[Service]:
    key, url = config.get("SMARTCHAT_KEY"), config.get("SMARTCHAT_SCRIPT_URL")
    if not key and not url:
        return []
    if not key or not url:
        raise ConfigError(f"{ENV_PREFIX}SMARTCHAT_KEY and {ENV_PREFIX}SMARTCHAT_SCRIPT_URL: set both or neither")
    if not isinstance(key, str) or not re.match(r"^[A-Za-z0-9_\-]{1,128}$", key):
        raise ConfigError(f"{ENV_PREFIX}SMARTCHAT_KEY: letters, digits, '-' and '_' only")
    url = _https_url("SMARTCHAT_SCRIPT_URL", url)
    host = urlsplit(url).hostname or ""
    return [
        Service(
            id="smartchat",
            category="chat",
            vendor="SmartChat",
            purpose=_l("The live-chat window for questions to our support."),
            cookies=(CookieSpec("smartchat*", _l("up to 1 year"),
                                _l("Keeps your chat conversation open across pages.")),),
            hosts=(host,),
            # A chat widget also styles itself, frames its window and talks over a websocket.
            csp=(
                *((d, (f"https://{host}",)) for d in ("script-src", "img-src", "style-src", "frame-src", "font-src")),
                ("connect-src", (f"https://{host}", f"wss://{host}")),
            ),
            tag="consent/tags/smartchat.html",
            params=(("key", key), ("script_url", url)),
        )
    ]


def _operator_service(index: int, raw: Any) -> Service:
    where = f"{ENV_PREFIX}CONSENT_SERVICES[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a dict")
    unknown = set(raw) - SERVICE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("id", "category", "vendor", "purpose"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ConfigError(f"{where}.{key}: required text")
    if not re.match(r"^[a-z0-9_\-]{1,40}$", raw["id"]):
        raise ConfigError(f"{where}.id: lower-case letters, digits, '-' and '_' only")
    if raw["category"] not in OPTIONAL_CATEGORIES:
        raise ConfigError(f"{where}.category: one of {', '.join(OPTIONAL_CATEGORIES)}")
    cookies = []
    for n, cookie in enumerate(raw.get("cookies") or []):
        if not isinstance(cookie, Mapping) or not COOKIE_NAME.match(str(cookie.get("name", ""))):
            raise ConfigError(f"{where}.cookies[{n}]: needs a name (letters, digits, _.-, optional trailing *)")
        cookies.append(CookieSpec(str(cookie["name"]), str(cookie.get("lifetime", "not stated")),
                                  str(cookie.get("purpose", raw["purpose"]))))
    hosts = raw.get("hosts") or []
    if not isinstance(hosts, (list, tuple)) or not all(isinstance(h, str) and HOST.match(h) for h in hosts):
        raise ConfigError(f"{where}.hosts: a list of host names like 'cdn.example.com' or '*.example.com'")
    script_url = raw.get("script_url")
    params: tuple[tuple[str, str], ...] = ()
    if script_url is not None:
        script_url = _https_url(f"CONSENT_SERVICES[{index}].script_url", script_url)
        script_host = urlsplit(script_url).hostname or ""
        if script_host not in hosts:
            hosts = [*hosts, script_host]
        params = (("script_url", script_url),)
    sources = tuple(f"https://{h}" for h in hosts)
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{where}.name: must be text")
    privacy_url = raw.get("privacy_url")
    if privacy_url is not None:
        privacy_url = _https_url(f"CONSENT_SERVICES[{index}].privacy_url", privacy_url)
    return Service(
        id=raw["id"], category=raw["category"], vendor=raw["vendor"].strip(), purpose=raw["purpose"].strip(),
        cookies=tuple(cookies), hosts=tuple(hosts),
        csp=tuple((d, sources) for d in ("script-src", "connect-src", "img-src")) if sources else (),
        params=params, privacy_url=privacy_url, name=(name or "").strip(),
    )


def necessary_cookies(config: Mapping[str, Any]) -> tuple[CookieSpec, ...]:
    """The portal's own cookies (portal.cookies), as the cookie policy lists them."""
    production = bool(config.get("PRODUCTION"))
    lifetimes = cookies.lifetimes(config)
    return tuple(CookieSpec(c.name(production), lifetimes[c], c.purpose) for c in cookies.ALL)


def build(config: Mapping[str, Any]) -> Registry:
    """Validate the settings into a registry; a malformed service is a ConfigError at start-up."""
    services = _google_services(config) + _smartchat(config)
    extra = config.get("CONSENT_SERVICES") or []
    if not isinstance(extra, (list, tuple)):
        raise ConfigError(f"{ENV_PREFIX}CONSENT_SERVICES: must be a list of dicts")
    services += [_operator_service(i, raw) for i, raw in enumerate(extra)]
    ids = [s.id for s in services]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"{ENV_PREFIX}CONSENT_SERVICES: duplicate service id in {ids}")
    registry = Registry(tuple(services), necessary_cookies(config))
    # The revision depends on what people are asked about, so any change there asks everyone again.
    canonical = json.dumps(registry.describe(), sort_keys=True, separators=(",", ":"))
    revision = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return Registry(registry.services, registry.necessary, revision)


def init_app(app: Flask) -> None:
    app.extensions["consent_registry"] = build(app.config)


def registry() -> Registry:
    return current_app.extensions["consent_registry"]


def configured_services() -> list[Service]:
    return list(registry().services)


def known_hosts() -> set[str]:
    return {host for service in registry().services for host in service.hosts}


def revision() -> str:
    return registry().revision
