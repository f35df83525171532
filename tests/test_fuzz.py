"""A standing fuzz check: malformed values in every form field, route parameter and cookie.

Every route of the app (taken from its URL map, so a new route fails here until it is listed)
gets hypothesis-generated values - Unicode whitespace and foreign digits, control characters,
huge numbers, long strings, markup, CRLF, format strings - with and without a valid CSRF token,
signed in and not. Whatever comes in: never a 5xx, never a traceback, never our probe markup
reflected unescaped. Derandomized and bounded, so a run is reproducible and stays within
about half a minute per backend.
"""

from __future__ import annotations

import itertools
import logging
import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.accounts_support import create_user, login, set_ip
from tests.helpers import PASSWORD, csrf_token

EXAMPLES = 25  # hypothesis examples per endpoint and backend, and as many for the cookies

# Probe markup: found in a page only if some value was reflected without escaping.
PROBE = "<fz\"'>"
PROBE_FOUND = re.compile(r"<fz[\"']")

# Fields per endpoint (the forms of CONTRACT.md); query parameters every GET may carry.
FORMS: dict[str, tuple[str, ...]] = {
    "main.home": (),
    "main.healthz": (),
    "accounts.signup": ("email", "password", "newsletter"),
    "accounts.confirm": (),
    "accounts.resend_confirmation": ("email",),
    "accounts.login": ("email", "password"),
    "accounts.logout": (),
    "accounts.reset_request": ("email",),
    "accounts.reset_password": ("password",),
    "accounts.account": (),
    "accounts.change_password": ("current_password", "new_password"),
    "accounts.change_email": ("password", "new_email"),
    "accounts.confirm_email_change": (),
    "accounts.list_sessions": ("after",),
    "accounts.revoke_sessions": ("session_id", "all_others"),
    "consent.decide": ("action", "analytics", "chat", "next", "per_service", "service"),
    "consent.cookies": (),
    "newsletter.preferences": ("subscribed",),
    "newsletter.unsubscribe_page": (),
    "newsletter.unsubscribe": ("List-Unsubscribe",),
    "newsletter.archive": (),
    "newsletter.archived": (),
    "privacy.policy_page": (),
    "privacy.contact": ("email", "topic", "message"),
    "privacy.desk": (),
    "staff.index": (),
    "language.choose": ("language", "next"),
    "staff_desk.inquiries": (),
    "staff_desk.case": (),
    "staff_desk.update_case": ("assignee", "notes"),
    "staff_desk.extend": ("months", "reason"),
    "staff_desk.reply": ("subject", "body", "answered"),
    "staff_desk.answered": (),
    "staff_desk.export": (),
    "staff_desk.erase": ("password",),
    "staff_breaches.register": ("reference",),
    "staff_breaches.add": ("discovered_at", "summary", "description", "reference"),
    "staff_breaches.breach": (),
    "staff_breaches.decide": ("decision", "reason", "notified_at", "people_informed"),
    "staff_people.find": (),
    "staff_people.look_up": ("email", "reason"),
    "staff_people.person": (),
    "staff_people.end_sessions": (),
    "staff_people.newsletter": ("action",),
    "staff_reports.audit_log_page": ("before",),
    "staff_reports.health_page": (),
    "staff_reports.consent_page": (),
    "privacy_account.export": ("password",),
    "privacy_account.delete": ("password",),
    "mail_hooks.ses_notification": ("Type", "Message", "Signature"),
    "accounts.check_inbox": (),
    "accounts.email_settings": (),
    "accounts.your_data": (),
    "accounts.security": (),
    "accounts.sign_ins": ("after",),
    "accounts.cookie_choices": ("after",),
    "accounts.newsletter_history": ("after",),
    "metrics.scrape": (),  # 404 without METRICS_TOKEN (the fuzz app has none)
    "newsletter_console.index": (),
    "newsletter_console.compose": ("subject", "body", "subject_cs", "body_cs", "preview_language"),
    "newsletter_console.edit": ("subject", "body", "subject_cs", "body_cs", "preview_language"),
    "newsletter_console.preview": ("subject", "body", "subject_cs", "body_cs", "preview_language"),
    "newsletter_console.saved_preview": (),
    "newsletter_console.issue_page": (),
    "newsletter_console.test_copy": (),
    "newsletter_console.send_now": ("now-second_this_month", "now-reason"),
    "newsletter_console.schedule_issue": ("at-when", "at-second_this_month", "at-reason"),
    "newsletter_console.unschedule_issue": (),
    "newsletter_console.progress_page": (),
    "newsletter_console.progress_json": (),
    "newsletter_console.pause": (),
    "newsletter_console.resume": (),
    "newsletter_console.retry_failed": (),
    "newsletter_console.review": ("delivery", "decision"),
    "newsletter_console.statistics": (),
    "mail_console.page": (),
    "mail_console.retry": ("which",),
    "mfa.verify": ("code", "credential"),
    "mfa.login_options": (),
    "mfa.login_passkey": ("credential",),
    "mfa.confirm": ("password", "code", "credential"),
    "mfa_account.new_passkey": (),
    "mfa_account.add_passkey": ("name", "credential"),
    "mfa_account.rename_passkey": ("name",),
    "mfa_account.remove_passkey": (),
    "mfa_account.authenticator": ("code",),
    "mfa_account.remove_authenticator": (),
    "mfa_account.regenerate_codes": (),
}
QUERY = ("next", "lang", "after")
COOKIES = ("session", "portal_sid", "portal_consent", "portal_device", "portal_lang", "__Host-session", "__Host-sid",
           "__Host-consent", "__Host-device", "__Host-lang")

# Values known to have broken parsers somewhere: Unicode whitespace and digits (int()), NUL
# (PostgreSQL), huge and negative numbers, long input, markup, header injection, formats.
NASTY = [
    "", " ", "+", "\t", "\u3000", "\u0085", "\u2028", "\u2029", "\xa0", "\x0b", "\x1c", "\n", "\r\n",
    "\u0661", "\u0967", "\uff11", "\u00b2", "1_0", "0x10", "1e9", "-1", "0", "00", "9" * 40, "2147483648",
    "\x00", "a\x00b", "%00", "%", "%2e%2e%2f", "../../etc/passwd", "//evil.example", "\\\\evil.example",
    "javascript:alert(1)", "https://evil.example/", "/\t/evil.example", "' OR '1'='1", "\"; DROP TABLE users;--",
    "{{7*7}}", "${7*7}", "%s%s%n", "{0.__class__}", "a\r\nSet-Cookie: x=y", "\u202eevil", "\ufeff", "\udfff"[:0],
    "x" * 5000, "é" * 3000, "\U0001f600" * 50, "null", "true", "[]", "{}", "1", "accept_all", "reject_all",
    "save", "settings", "access", "other", "y", "on", PROBE, f"a@b.example{PROBE}", f"{PROBE}@example.com",
]

_nasty = st.sampled_from(NASTY)
values = st.one_of(
    _nasty, _nasty, _nasty,  # weighted: the known-bad values are where bugs were found
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12).map(lambda s: s + PROBE),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)

_sent = itertools.count()


def _routes(app: Any) -> list[tuple[str, str, list[str], str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, sorted(rule.arguments), rule.rule))
    return routes


def _path(rule: str, arguments: list[str], value: str, raw: bool) -> str:
    path = rule
    for name in arguments:
        filled = value if raw else quote(value, safe="")
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", lambda _m, filled=filled: filled, path)
    return path


def _check(response: Any, sent: list[str]) -> None:
    next(_sent)
    body = response.get_data(as_text=True)
    assert response.status_code < 500, (response.status_code, sent)
    assert "Traceback" not in body and 'File "' not in body, sent
    if "html" in (response.content_type or ""):
        assert not PROBE_FOUND.search(body), sent
    location = response.headers.get("Location", "")
    assert not location.startswith(("//", "http://evil", "https://evil", "javascript:")), location
    assert "\n" not in location and "\r" not in location


@pytest.fixture
def fuzz_app(make_app: Any) -> Any:
    many = "100000 per minute"
    app = make_app(LOGIN_RATE_LIMIT=many, SIGNUP_RATE_LIMIT=many, RESET_RATE_LIMIT=many,
                   INQUIRY_RATE_LIMIT=many, DPO_EMAIL="dpo@example.com")
    create_user(app, "fuzz@example.com")
    return app


def test_every_route_is_in_the_fuzz_table(fuzz_app):
    assert {endpoint for endpoint, *_ in _routes(fuzz_app)} <= set(FORMS)


class Member:
    """A signed-in browser that signs in again whenever a fuzzed request signed it out."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = set_ip(app.test_client(), "198.51.100.200")
        self.token = ""

    def ready(self) -> Any:
        if self.client.get_cookie("portal_sid") is None:
            assert login(self.client, "fuzz@example.com", PASSWORD).status_code == 302
            self.token = csrf_token(self.client, "/account")
        return self.client


def _member(app: Any) -> Member:
    """One signed-in browser per app (hypothesis runs every example on the test's one app)."""
    return app.extensions.setdefault("tests.fuzz_member", Member(app))  # type: ignore[no-any-return]

# Endpoints that need a signed-in person; the sweep sends their values signed in.
SIGNED_IN = {"accounts.account", "accounts.change_password", "accounts.change_email", "accounts.list_sessions",
             "accounts.revoke_sessions", "newsletter.preferences", "privacy_account.export",
             "privacy_account.delete", "accounts.sign_ins", "accounts.cookie_choices",
             "accounts.newsletter_history", "mfa.confirm", "mfa_account.new_passkey", "mfa_account.add_passkey",
             "mfa_account.rename_passkey", "mfa_account.remove_passkey", "mfa_account.authenticator",
             "mfa_account.remove_authenticator", "mfa_account.regenerate_codes"}


@pytest.mark.parametrize("endpoint", sorted(FORMS))
def test_every_known_bad_value_in_every_field_and_parameter(fuzz_app, caplog, endpoint):
    """The seeded half: each known-bad value alone in each field and route parameter."""
    member = Member(fuzz_app)
    stranger = set_ip(fuzz_app.test_client(), "198.51.100.203")
    stranger_token = csrf_token(stranger, "/login")  # one browser; its token stays valid throughout
    for _, method, arguments, rule in [r for r in _routes(fuzz_app) if r[0] == endpoint]:
        slots = [("field", name) for name in FORMS[endpoint]] + [("param", name) for name in arguments]
        for (kind, name), value in itertools.product(slots or [("none", "")], NASTY):
            if endpoint in SIGNED_IN:
                client, token = member.ready(), member.token
            else:
                client, token = stranger, stranger_token
            path = _path(rule, arguments, value if kind == "param" else "x", raw=False)
            form = {"csrf_token": token, **({name: value} if kind == "field" else {})}
            with caplog.at_level(logging.ERROR, logger="portal"):
                if method == "GET":
                    response = client.get(path, query_string={k: v for k, v in form.items() if k != "csrf_token"})
                else:
                    response = client.open(path, method=method, data=form)
                _check(response, [method, path, repr(form)])
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
            if kind == "none":
                break


@pytest.mark.parametrize("endpoint", sorted(FORMS))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_forms_and_route_parameters(fuzz_app, caplog, endpoint, data):
    routes = [r for r in _routes(fuzz_app) if r[0] == endpoint]
    assert routes, f"{endpoint} is no longer a route: drop it from FORMS"
    _, method, arguments, rule = data.draw(st.sampled_from(routes))
    if data.draw(st.booleans()):
        member = _member(fuzz_app)
        client, token = member.ready(), member.token
    else:
        client = set_ip(fuzz_app.test_client(), "198.51.100.201")
        token = csrf_token(client, "/login")
    path = _path(rule, arguments, data.draw(values), raw=data.draw(st.booleans()))
    query = {name: data.draw(values) for name in QUERY if data.draw(st.booleans())}
    form = {name: data.draw(values) for name in FORMS[endpoint] if data.draw(st.booleans())}
    form["csrf_token"] = token if data.draw(st.integers(0, 4)) else data.draw(values)
    sent = [method, path, repr(query), repr(form)]
    if query:  # a raw parameter may bring its own "?": the test client takes one query string
        path += ("&" if "?" in path else "?") + urlencode(query)
    with caplog.at_level(logging.ERROR, logger="portal"):
        response = client.open(path, method=method, data=form if method != "GET" else None)
        _check(response, sent)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_cookies(fuzz_app, caplog, data):
    client = set_ip(fuzz_app.test_client(), "198.51.100.202")
    # A raw Cookie header, as bytes on the wire would arrive (WSGI hands them over as latin-1).
    pairs = [f"{name}={data.draw(values)}" for name in COOKIES if data.draw(st.booleans())]
    raw = "; ".join(pairs).replace("\r", "").replace("\n", "").encode("utf-8").decode("latin-1")[:8000]
    _, method, _, rule = data.draw(st.sampled_from(
        [r for r in _routes(fuzz_app) if r[1] == "GET" and not r[2]] + [("accounts.login", "POST", [], "/login")]
    ))
    with caplog.at_level(logging.ERROR, logger="portal"):
        headers = {"Cookie": raw} if raw else {}
        if method == "GET":
            response = client.get(rule, headers=headers)
        else:
            response = client.post(rule, headers=headers,
                                   data={"email": "fuzz@example.com", "password": data.draw(values)})
        _check(response, [method, rule, raw[:200]])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_zz_the_fuzz_sent_what_it_promised():
    # Runs after the fuzz tests of its worker (pytest keeps file order within a worker).
    sent = next(_sent)
    if sent < EXAMPLES:
        pytest.skip("the fuzz tests ran on another worker")
    print(f"fuzzed requests on this worker: {sent}, none answered 5xx")
