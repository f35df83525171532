"""``flask privacy audit``: the live configuration checked against each promise of the policy.

Each check returns one line: PASS or FAIL, the promise, and the reason in words an operator can
act on. The tracker check renders the real home page instead of reading settings, so a template
that leaks a tag before consent fails it whatever the settings say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, or_, select

from portal.accounts.models import User
from portal.config import is_rate_limit
from portal.extensions import db
from portal.privacy import inquiries

POLICY_IDLE_TIMEOUT = 6 * 3600  # "the session ID expires after … about 6 hours"
MIN_BCRYPT_ROUNDS = 12
MAX_NEWSLETTERS_PER_MONTH = 2  # "A maximum of once a month (in rare cases twice)"
TRACKER_HOSTS = ("www.googletagmanager.com", "www.google-analytics.com", "google-analytics.com")
BCRYPT_PREFIXES = ("$2b$", "$2a$", "$2y$")


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    reason: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.reason}"


def _cfg(key: str) -> object:
    return current_app.config.get(key)


def check_session_timeout() -> Result:
    value = _cfg("SESSION_IDLE_TIMEOUT")
    if not isinstance(value, int) or value <= 0:
        return Result("session-idle-timeout", False, f"SESSION_IDLE_TIMEOUT is not a number of seconds: {value!r}")
    ok = value <= POLICY_IDLE_TIMEOUT
    verdict = "within" if ok else "longer than"
    return Result(
        "session-idle-timeout", ok, f"SESSION_IDLE_TIMEOUT={value} s is {verdict} the policy's 6 hours (21600 s)"
    )


def check_password_hashing() -> Result:
    rounds = _cfg("BCRYPT_ROUNDS")
    if not isinstance(rounds, int) or rounds < MIN_BCRYPT_ROUNDS:
        reason = f"BCRYPT_ROUNDS={rounds} is below the minimum cost {MIN_BCRYPT_ROUNDS}"
        return Result("password-hashing", False, reason)
    # Counted in SQL: the audit must stay cheap with a million accounts.
    is_bcrypt = or_(*(User.password_hash.startswith(prefix, autoescape=True) for prefix in BCRYPT_PREFIXES))
    total = db.session.scalar(select(func.count()).select_from(User)) or 0
    foreign = db.session.scalar(select(func.count()).where(~is_bcrypt)) or 0
    if foreign:
        return Result("password-hashing", False, f"{foreign} stored password(s) are not bcrypt hashes")
    # "$2b$12$…": the cost is two zero-padded digits, so text comparison orders them correctly.
    weak = db.session.scalar(select(func.count()).where(func.substr(User.password_hash, 5, 2) < f"{rounds:02d}")) or 0
    note = f"; {weak} older hash(es) below cost {rounds} are upgraded at the next sign-in" if weak else ""
    return Result("password-hashing", True, f"bcrypt cost {rounds}; all {total} stored hash(es) are bcrypt{note}")


def check_login_limit() -> Result:
    name = "login-rate-limit"
    rate = _cfg("LOGIN_RATE_LIMIT")
    if not is_rate_limit(rate):
        return Result(name, False, f"LOGIN_RATE_LIMIT does not parse: {rate!r}")
    if _cfg("RATELIMIT_ENABLED") is False:
        return Result(name, False, "RATELIMIT_ENABLED is false: no login limit is enforced")
    storage = str(_cfg("RATELIMIT_STORAGE_URI") or "memory://")
    workers = _cfg("WORKER_PROCESSES") or 1
    if isinstance(workers, int) and workers > 1 and storage.startswith("memory://"):
        return Result(
            name, False, f"{workers} worker processes each count on their own (memory://): use a shared redis:// store"
        )
    where = storage.split("://", 1)[0] + "://"
    return Result(name, True, f"'{rate}' per IP, counted in {where} for {workers} worker process(es)")


def tracker_hosts() -> list[str]:
    hosts = list(TRACKER_HOSTS)
    script = _cfg("SMARTCHAT_SCRIPT_URL")
    if script:
        host = urlsplit(str(script)).hostname
        if host:
            hosts.append(host.lower())
    return hosts


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
    configured = [k for k in ("GA_MEASUREMENT_ID", "GTM_CONTAINER_ID", "SMARTCHAT_KEY") if _cfg(k)]
    which = ", ".join(configured) if configured else "none configured"
    return Result(name, True, f"no tracker host in the home page or its CSP without consent (trackers: {which})")


def check_newsletter_cap() -> Result:
    value = _cfg("NEWSLETTER_MONTHLY_LIMIT")
    if not isinstance(value, int) or isinstance(value, bool):
        return Result("newsletter-cap", False, f"NEWSLETTER_MONTHLY_LIMIT is not set to a number: {value!r}")
    ok = 0 <= value <= MAX_NEWSLETTERS_PER_MONTH
    return Result("newsletter-cap", ok, f"NEWSLETTER_MONTHLY_LIMIT={value} ({'≤' if ok else '>'} 2 per month)")


def check_ip_retention() -> Result:
    value = _cfg("LOGIN_IP_RETENTION_DAYS")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return Result("ip-retention", False, f"LOGIN_IP_RETENTION_DAYS is not set to a number of days: {value!r}")
    return Result("ip-retention", True, f"login IP addresses are purged after {value} days")


def check_dpo_contact() -> Result:
    name = "dpo-contact"
    address = _cfg("DPO_EMAIL")
    stranded = inquiries.unnotified_count()
    tail = f"; {stranded} stored inquiry(ies) never reached a DPO" if stranded else ""
    if not address:
        return Result(name, False, f"DPO_EMAIL is not set: the policy's contact address is blank{tail}")
    try:
        validate_email(str(address), check_deliverability=False)
    except EmailNotValidError as error:
        return Result(name, False, f"DPO_EMAIL is not a valid address: {error}")
    return Result(name, stranded == 0, f"DPO_EMAIL is {address}{tail}")


def check_dpo_notifications_delivered() -> Result:
    """An inquiry with a legal deadline whose notice has not reached the DPO's mail server."""
    from portal.mail.status import undelivered_older_than

    age = int(_cfg("DPO_NOTIFICATION_MAX_DELAY"))  # type: ignore[call-overload]
    late = undelivered_older_than("privacy.dpo", age)
    if late:
        return Result("dpo-notifications", False,
                      f"{late} DPO notification(s) still undelivered after {age} s (`flask mail status`)")
    return Result("dpo-notifications", True, f"every DPO notification older than {age} s was delivered")


def check_inquiry_deadlines() -> Result:
    late = inquiries.overdue_count()
    if late:
        return Result("inquiry-deadlines", False, f"{late} open inquiry(ies) are past their one-month deadline")
    return Result("inquiry-deadlines", True, f"{inquiries.open_count()} open inquiry(ies), none overdue")


def check_mail_server() -> Result:
    server = _cfg("MAIL_SERVER")
    if not server:
        return Result("mail-server", False, "MAIL_SERVER is not set: email is only written to instance/outbox/")
    return Result("mail-server", True, f"MAIL_SERVER is {server}:{_cfg('MAIL_PORT')}")


def check_bounce_handling() -> Result:
    """A sender that ignores bounces and complaints loses its reputation, then its relay account."""
    from portal.newsletter.models import Issue, Subscription

    name = "bounce-handling"
    started = db.session.scalar(select(func.count()).select_from(Issue).where(Issue.started_at.is_not(None))) or 0
    subscribed = db.session.scalar(
        select(func.count()).select_from(Subscription).where(Subscription.active.is_(True))) or 0
    ways = [w for w, on in (("BOUNCE_ADDRESS (flask mail inbound)", _cfg("BOUNCE_ADDRESS")),
                            ("SES_TOPIC_ARNS (POST /hooks/ses)", _cfg("SES_TOPIC_ARNS"))) if on]
    if not started and not subscribed:
        return Result(name, True, "the newsletter is not in use" + (f"; configured: {', '.join(ways)}" if ways else ""))
    if not ways:
        return Result(name, False, f"the newsletter is in use ({started} issue(s) started, {subscribed} subscriber(s)) "
                      "but neither BOUNCE_ADDRESS nor SES_TOPIC_ARNS is set: bounces and complaints are ignored "
                      "(docs/deliverability.md)")
    return Result(name, True, f"bounces and complaints come back through {', '.join(ways)}")


def check_dkim() -> Result:
    """Gmail and Yahoo require DKIM of bulk senders (2024): production must sign."""
    from portal.mail.dkim_signing import KeyProblem, signer_for

    name = "dkim"
    try:
        signer = signer_for(current_app.config)
    except KeyProblem as problem:
        return Result(name, False, f"DKIM_PRIVATE_KEY_FILE: {problem}")
    if signer is None:
        verdict = _cfg("ENV") != "production"
        return Result(name, verdict, "DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE are not set: mail is "
                      "not signed" + ("" if not verdict else " (required in production)"))
    return Result(name, True, f"every message is signed for d={signer.domain.decode()} "
                  f"s={signer.selector.decode()}, List-Unsubscribe included")


def check_secure_cookies() -> Result:
    name = "secure-cookies"
    if _cfg("ENV") != "production":
        return Result(name, False, f"ENV={_cfg('ENV')}: cookies are not Secure outside production")
    if not _cfg("SESSION_COOKIE_SECURE"):
        return Result(name, False, "SESSION_COOKIE_SECURE is off in production")
    return Result(name, True, "production: session and login cookies are Secure (__Host- prefixed)")


# --- templates: every resource self-served -----------------------------------------------------

EXTERNAL = r"""(?:https?:)?//[^\s"'<>)]+"""
RESOURCE_PATTERNS = (
    re.compile(r"""\bsrc\s*=\s*["']?(""" + EXTERNAL + ")", re.I),
    re.compile(r"""\bsrcset\s*=\s*["']?(""" + EXTERNAL + ")", re.I),
    re.compile(r"""@import\s+(?:url\()?\s*["']?(""" + EXTERNAL + ")", re.I),
    re.compile(r"""url\(\s*["']?(""" + EXTERNAL + ")", re.I),
)
LINK_TAG = re.compile(r"<link\b[^>]*>", re.I | re.S)
LINK_HREF = re.compile(r"""\bhref\s*=\s*["']?(""" + EXTERNAL + ")", re.I)
LOADING_RELS = re.compile(
    r"""\brel\s*=\s*["']?[^"'>]*\b(stylesheet|preload|modulepreload|preconnect|prefetch|dns-prefetch|icon|manifest)\b""",
    re.I,
)


def template_root() -> Path:
    return Path(current_app.root_path, current_app.template_folder or "templates").resolve()


def external_references(root: Path, own_host: str | None) -> Iterator[tuple[str, str]]:
    """(template path, URL) for every resource a template loads from another host."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in {".html", ".htm", ".txt", ".css", ".svg", ".xml", ".j2"}:
            continue
        relative = path.relative_to(root).as_posix()
        if relative.startswith("consent/"):
            continue  # the consent registry's gated tags live here, rendered only after consent
        text = path.read_text(encoding="utf-8", errors="replace")
        urls = [m.group(1) for pattern in RESOURCE_PATTERNS for m in pattern.finditer(text)]
        for tag in LINK_TAG.findall(text):
            if LOADING_RELS.search(tag):
                urls += [m.group(1) for m in LINK_HREF.finditer(tag)]
        for url in urls:
            host = urlsplit(url if "://" in url else "https:" + url).hostname
            if host and host != own_host:
                yield relative, url


def check_templates_self_served() -> Result:
    own = urlsplit(str(_cfg("BASE_URL") or "")).hostname
    found = list(external_references(template_root(), own))
    if found:
        shown = ", ".join(f"{path} → {url}" for path, url in found[:5])
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        return Result("self-served-assets", False, f"templates load from other hosts: {shown}{more}")
    return Result("self-served-assets", True, "no template outside consent/ loads a resource from another host")


CHECKS: tuple[Callable[[], Result], ...] = (
    check_session_timeout,
    check_password_hashing,
    check_login_limit,
    check_trackers_behind_consent,
    check_newsletter_cap,
    check_ip_retention,
    check_dpo_contact,
    check_dpo_notifications_delivered,
    check_inquiry_deadlines,
    check_mail_server,
    check_bounce_handling,
    check_dkim,
    check_secure_cookies,
    check_templates_self_served,
)


def run() -> list[Result]:
    results = []
    for check in CHECKS:
        try:
            results.append(check())
        except Exception as error:  # one broken check must not hide the others
            db.session.rollback()
            results.append(Result(check.__name__.removeprefix("check_"), False, f"could not check: {error}"))
    return results
