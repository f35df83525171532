"""`flask privacy audit`: each misconfiguration fails its line; a good production setup passes."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from jinja2 import ChoiceLoader, DictLoader

from portal.accounts.models import User
from portal.db import utcnow
from portal.extensions import db
from portal.privacy.models import Inquiry
from portal.security import audit
from portal.security.headers import allow_source
from portal.security.passwords import hash_password
from tests import dkim_support
from tests.conftest import REDIS_URL

ALL_CHECKS = {
    "session-idle-timeout", "password-hashing", "login-rate-limit", "trackers-behind-consent", "newsletter-cap",
    "ip-retention", "dpo-contact", "dpo-notifications", "inquiry-deadlines", "mail-server", "bounce-handling", "dkim",
    "secure-cookies", "self-served-assets", "staff-second-factor",
}
GOOD_PRODUCTION = {
    "ENV": "production",
    "BASE_URL": "https://portal.example",
    "BCRYPT_ROUNDS": 12,
    "DPO_EMAIL": "dpo@portal.example",
    "GA_MEASUREMENT_ID": "G-TEST12345",
    "GTM_CONTAINER_ID": "GTM-TEST123",
    "SMARTCHAT_KEY": "chat-key",
    "SMARTCHAT_SCRIPT_URL": "https://widget.smartchat.example/loader.js",
}


def _audit(app):
    result = app.test_cli_runner().invoke(args=["privacy", "audit"])
    lines = {}
    for line in result.output.strip().splitlines()[:-1]:
        verdict, rest = line.split(" ", 1)
        name, reason = rest.split(": ", 1)
        lines[name] = (verdict, reason)
    return result, lines


def _production(make_app, backend, **overrides):
    settings = {**GOOD_PRODUCTION, **dkim_support.settings()}
    if backend == "postgresql" and REDIS_URL:
        settings["WORKER_PROCESSES"] = 4  # several workers, sharing the Redis counters
    settings.update(overrides)
    return make_app(**settings)


def test_a_good_production_configuration_passes_every_line(make_app, backend):
    app = _production(make_app, backend)
    with app.app_context():
        db.session.add(User(email="a@example.com", email_key="a@example.com", password_hash=hash_password("x" * 20, 4)))
        db.session.commit()
    result, lines = _audit(app)
    assert result.exit_code == 0, result.output
    assert set(lines) == ALL_CHECKS
    assert all(verdict == "PASS" for verdict, _ in lines.values()), result.output
    assert "upgraded at the next sign-in" in lines["password-hashing"][1]
    assert "GA_MEASUREMENT_ID, GTM_CONTAINER_ID, SMARTCHAT_KEY" in lines["trackers-behind-consent"][1]
    assert result.output.strip().splitlines()[-1] == f"{len(ALL_CHECKS)} passed, 0 failed"


def test_development_defaults_fail_with_reasons(app):
    result, lines = _audit(app)
    assert result.exit_code == 1
    assert lines["secure-cookies"] == ("FAIL", "ENV=development: cookies are not Secure outside production")
    assert lines["dpo-contact"][0] == "FAIL" and "DPO_EMAIL is not set" in lines["dpo-contact"][1]
    assert lines["password-hashing"][0] == "FAIL" and "BCRYPT_ROUNDS=4" in lines["password-hashing"][1]
    assert lines["session-idle-timeout"][0] == "PASS" and lines["trackers-behind-consent"][0] == "PASS"


def _fails(app, name, *fragments):
    result, lines = _audit(app)
    assert result.exit_code == 1
    verdict, reason = lines[name]
    assert verdict == "FAIL", (name, reason)
    for fragment in fragments:
        assert fragment in reason, reason
    # Only the line under test fails: the production baseline is otherwise clean.
    assert [n for n, (v, _) in lines.items() if v == "FAIL"] == [name], result.output


@pytest.mark.parametrize(("overrides", "name", "fragment"), [
    ({"SESSION_IDLE_TIMEOUT": 21601}, "session-idle-timeout", "longer than the policy's 6 hours"),
    ({"BCRYPT_ROUNDS": 11}, "password-hashing", "below the minimum cost 12"),
    ({"MAIL_SERVER": None}, "mail-server", "MAIL_SERVER is not set"),
    ({"DPO_EMAIL": None}, "dpo-contact", "DPO_EMAIL is not set"),
    ({"LOGIN_IP_RETENTION_DAYS": 30}, None, None),
])
def test_each_setting_misconfiguration_fails_its_line(make_app, backend, overrides, name, fragment):
    app = _production(make_app, backend, **overrides)
    if name is None:
        assert _audit(app)[0].exit_code == 0
    else:
        _fails(app, name, fragment)


@pytest.mark.parametrize(("key", "value", "name", "fragment"), [
    # Values portal.config refuses at start-up; an operator could still reach them at run time.
    ("NEWSLETTER_MONTHLY_LIMIT", 3, "newsletter-cap", "NEWSLETTER_MONTHLY_LIMIT=3"),
    ("NEWSLETTER_MONTHLY_LIMIT", None, "newsletter-cap", "not set"),
    ("LOGIN_IP_RETENTION_DAYS", None, "ip-retention", "not set"),
    ("LOGIN_RATE_LIMIT", "plenty", "login-rate-limit", "does not parse"),
    ("RATELIMIT_ENABLED", False, "login-rate-limit", "RATELIMIT_ENABLED is false"),
    ("SESSION_COOKIE_SECURE", False, "secure-cookies", "SESSION_COOKIE_SECURE is off"),
    ("DPO_EMAIL", "not an address", "dpo-contact", "not a valid address"),
])
def test_each_runtime_misconfiguration_fails_its_line(make_app, backend, key, value, name, fragment):
    app = _production(make_app, backend)
    app.config[key] = value
    _fails(app, name, fragment)


def test_several_workers_on_a_per_process_store_fail(make_app):
    app = make_app(WORKER_PROCESSES=3, RATELIMIT_STORAGE_URI="memory://")  # development allows it to start
    _, lines = _audit(app)
    assert lines["login-rate-limit"][0] == "FAIL" and "3 worker processes" in lines["login-rate-limit"][1]


def test_stored_non_bcrypt_hash_fails(make_app, backend):
    app = _production(make_app, backend)
    with app.app_context():
        db.session.add(User(email="b@example.com", email_key="b@example.com", password_hash="5f4dcc3b5aa765d61d8327"))
        db.session.commit()
    _fails(app, "password-hashing", "1 stored password(s) are not bcrypt")


def test_a_tracker_rendered_before_consent_fails(make_app, backend):
    app = _production(make_app, backend)
    # A consent head template that forgets to check the visitor's choice.
    leak = '<script async src="https://www.googletagmanager.com/gtag/js?id={{ config.GA_MEASUREMENT_ID }}"></script>'
    app.jinja_loader = ChoiceLoader([DictLoader({"consent/_head.html": leak}), app.jinja_loader])
    _fails(app, "trackers-behind-consent", "www.googletagmanager.com")


def test_a_tracker_host_in_the_csp_before_consent_fails(make_app, backend):
    app = _production(make_app, backend)
    app.before_request(lambda: allow_source("script-src", "https://widget.smartchat.example"))
    _fails(app, "trackers-behind-consent", "widget.smartchat.example")


def test_inquiries_that_never_reached_the_dpo_are_flagged(make_app, backend):
    app = _production(make_app, backend)
    with app.app_context():
        now = utcnow()
        db.session.add(Inquiry(reference="DP-UNSENT00", topic="other", email="x@example.com", email_key="x@example.com",
                               message="m", created_at=now, due_at=now + timedelta(days=30), dpo_notified=False))
        db.session.commit()
    _fails(app, "dpo-contact", "1 stored inquiry(ies) never reached a DPO")


def test_overdue_inquiries_fail(make_app, backend):
    app = _production(make_app, backend)
    with app.app_context():
        now = utcnow()
        db.session.add(Inquiry(reference="DP-LATE0000", topic="other", email="x@example.com", email_key="x@example.com",
                               message="m", created_at=now - timedelta(days=40), due_at=now - timedelta(days=9),
                               dpo_notified=True))
        db.session.commit()
    _fails(app, "inquiry-deadlines", "1 open inquiry(ies) are past their one-month deadline")


def test_templates_loading_from_other_hosts_fail(make_app, backend, tmp_path):
    app = _production(make_app, backend)
    with app.app_context():
        root = Path(shutil.copytree(audit.template_root(), tmp_path / "templates"))
    (root / "consent").mkdir(exist_ok=True)
    (root / "main" / "page.html").write_text('<script src="https://cdn.example.net/lib.js"></script>')
    # A consent-gated template may name vendor hosts (this one is never included by a page).
    (root / "consent" / "_audit_probe.html").write_text('<script src="https://www.googletagmanager.com/gtm.js"></script>')
    app.template_folder = str(root)
    _fails(app, "self-served-assets", "main/page.html → https://cdn.example.net/lib.js")


@pytest.mark.parametrize(("text", "found"), [
    ('<script src="https://cdn.example.net/a.js"></script>', ["https://cdn.example.net/a.js"]),
    ("<img src='//images.example.net/x.png'>", ["//images.example.net/x.png"]),
    ('<img srcset="https://img.example.net/x.png 2x">', ["https://img.example.net/x.png"]),
    ('<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=X">', ["https://fonts.googleapis.com/css?family=X"]),
    ('<link href="https://fonts.gstatic.com" rel="preconnect">', ["https://fonts.gstatic.com"]),
    ('<link rel="icon" href="http://cdn.example.net/favicon.ico">', ["http://cdn.example.net/favicon.ico"]),
    ("<style>@import 'https://cdn.example.net/x.css';</style>", ["https://cdn.example.net/x.css"]),
    ('<div style="background: url(https://cdn.example.net/bg.png)">', ["https://cdn.example.net/bg.png"]),
    # Not resources, or our own host: allowed.
    ('<a href="https://elsewhere.example.net/">a link</a>', []),
    ('<link rel="canonical" href="https://elsewhere.example.net/">', []),
    ('<script src="https://portal.example/static/x.js"></script>', []),
    ('<script src="{{ url_for(\'static\', filename=\'x.js\') }}"></script>', []),
    ('<img src="data:image/png;base64,AAAA">', []),
])
def test_external_reference_scanner(tmp_path: Path, text, found):
    (tmp_path / "page.html").write_text(text)
    assert [url for _, url in audit.external_references(tmp_path, "portal.example")] == found


def test_the_shipped_templates_are_self_served(app):
    with app.app_context():
        assert list(audit.external_references(audit.template_root(), "127.0.0.1")) == []


def test_bounce_handling_fails_when_the_newsletter_is_in_use_without_it(make_app, backend):
    from portal.newsletter.subscriptions import set_subscription

    app = _production(make_app, backend)
    with app.app_context():
        user = User(email="a@example.com", email_key="a@example.com", password_hash=hash_password("x" * 20, 4))
        db.session.add(user)
        db.session.flush()
        set_subscription(user, True, "signup")
        db.session.commit()
    _fails(app, "bounce-handling", "neither BOUNCE_ADDRESS nor SES_TOPIC_ARNS", "1 subscriber(s)")
    with app.app_context():
        app.config["BOUNCE_ADDRESS"] = "bounces@portal.example"
        _, lines = _audit(app)
    assert lines["bounce-handling"][0] == "PASS" and "flask mail inbound" in lines["bounce-handling"][1]


def test_dkim_is_required_in_production_only(make_app, backend):
    app = _production(make_app, backend, DKIM_DOMAIN=None, DKIM_SELECTOR=None, DKIM_PRIVATE_KEY_FILE=None)
    _fails(app, "dkim", "not signed")
    _, lines = _audit(make_app())
    assert lines["dkim"][0] == "PASS" and "required in production" in lines["dkim"][1]
