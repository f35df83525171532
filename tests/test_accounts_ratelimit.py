"""The per-IP limits (Flask-Limiter): exact counts, 429 pages, proxies, sharing and Redis outages."""

from __future__ import annotations

import itertools
import logging

from tests.accounts_support import (
    bcrypt_spy,
    create_user,
    login,
    set_ip,
)
from tests.helpers import PASSWORD, csrf_token, free_port, post_form

WRONG = "not the right password at all"


_counter = itertools.count()


def _attempts(client, n, email=None, password=WRONG, **kwargs):
    """n login attempts; by default each for a different unknown address, so the per-account
    throttle (its own test module) never answers in place of the per-IP limit."""
    return [login(client, email or f"u{next(_counter)}@example.com", password, **kwargs).status_code for _ in range(n)]


def test_login_limit_is_exact_at_n_and_n_plus_one(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    create_user(app, "ua@example.com")
    client = set_ip(app.test_client(), "198.51.100.1")
    assert _attempts(client, 3) == [400, 400, 400]
    refused = login(client, "ua@example.com", PASSWORD)  # even the right password: the IP is over
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 60
    page = refused.get_data(as_text=True)
    assert "Too many attempts" in page and "too many sign-in attempts from your network" in page
    assert 'href="/reset-password"' in page and "Traceback" not in page
    assert client.get("/login").status_code == 200  # the form itself stays reachable
    # Another address is not affected.
    other = set_ip(app.test_client(), "198.51.100.2")
    assert login(other, "ua@example.com", PASSWORD).status_code == 302


def test_successful_logins_count_towards_the_limit_too(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    create_user(app, "ua@example.com")
    browsers = [set_ip(app.test_client(), "198.51.100.3") for _ in range(3)]
    assert [login(b, "ua@example.com", PASSWORD).status_code for b in browsers] == [302, 302, 429]


def test_a_refused_request_does_no_bcrypt_work(make_app, smtp, monkeypatch):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    create_user(app, "ua@example.com")
    client = set_ip(app.test_client(), "198.51.100.4")
    with bcrypt_spy(monkeypatch) as spy:
        _attempts(client, 2)
        assert spy.costs == [4, 4]  # the spy does see real checks
        spy.reset()
        assert _attempts(client, 3) == [429, 429, 429]
        _attempts(client, 1, email="nobody@example.com")
        assert spy.costs == [] and spy.hashpw_costs == []


def test_the_limit_is_shared_by_app_instances_on_one_store(make_app, backend, smtp):
    first = make_app(LOGIN_RATE_LIMIT="3 per minute")
    second = make_app(LOGIN_RATE_LIMIT="3 per minute")
    create_user(first, "ua@example.com")
    a = set_ip(first.test_client(), "198.51.100.5")
    b = set_ip(second.test_client(), "198.51.100.5")
    assert _attempts(a, 2) == [400, 400]
    assert _attempts(b, 1) == [400]
    if backend == "postgresql":
        # Both apps count in the same Redis: the fourth attempt overall is refused, on either app.
        assert first.config["RATELIMIT_STORAGE_URI"].startswith("redis://")
        assert _attempts(b, 1) == [429]
        assert _attempts(a, 1) == [429]
    else:
        # memory:// is per app (per process): each instance keeps its own count. This is why
        # production needs redis:// once more than one worker runs.
        assert _attempts(b, 2) == [400, 400]
        assert _attempts(b, 1) == [429]
        assert _attempts(a, 1) == [400]


def test_spoofed_x_forwarded_for_is_ignored_without_a_trusted_proxy(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute", TRUSTED_PROXY_COUNT=0)
    client = set_ip(app.test_client(), "198.51.100.6")
    statuses = [
        login(client, f"x{i}@example.com", WRONG, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
        for i in range(5)
    ]
    assert statuses == [400, 400, 400, 429, 429]
    from sqlalchemy import select

    from portal.accounts.models import LoginAttempt
    from tests.accounts_support import db_rows

    assert {r.ip for r in db_rows(app, select(LoginAttempt.ip))} == {"198.51.100.6"}


def test_the_limit_follows_the_client_address_through_one_trusted_proxy(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute", TRUSTED_PROXY_COUNT=1, TRUSTED_PROXIES=["10.0.0.1"])
    proxy = set_ip(app.test_client(), "10.0.0.1")  # every request arrives from the proxy

    def through_proxy(client_ip, xff_prefix=""):
        return login(
            proxy, f"p{next(_counter)}@example.com", WRONG, headers={"X-Forwarded-For": xff_prefix + client_ip}
        ).status_code

    assert [through_proxy("203.0.113.1") for _ in range(4)] == [400, 400, 400, 429]
    assert through_proxy("203.0.113.2") == 400  # another client behind the same proxy
    # A client cannot escape by prepending its own X-Forwarded-For: only the proxy's entry counts.
    assert through_proxy("203.0.113.1", xff_prefix="1.2.3.4, ") == 429
    from sqlalchemy import select

    from portal.accounts.models import LoginAttempt
    from tests.accounts_support import db_rows

    assert {r.ip for r in db_rows(app, select(LoginAttempt.ip))} == {"203.0.113.1", "203.0.113.2"}


def test_redis_outage_falls_back_to_memory_limits_and_logs_it(make_app, smtp, caplog):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute", RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0")
    create_user(app, "ua@example.com")
    client = set_ip(app.test_client(), "198.51.100.7")
    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        # Not locked out: the first requests are served...
        assert login(client, "ua@example.com", PASSWORD).status_code == 302
        assert _attempts(set_ip(app.test_client(), "198.51.100.7"), 2) == [400, 400]
        # ...and the gate is not open either: the in-memory fallback still counts.
        assert _attempts(set_ip(app.test_client(), "198.51.100.7"), 1) == [429]
    assert any("falling back to in-memory" in r.getMessage() for r in caplog.records)


def test_signup_reset_and_resend_are_limited_per_ip(make_app, smtp):
    app = make_app(SIGNUP_RATE_LIMIT="2 per minute", RESET_RATE_LIMIT="2 per minute")
    client = set_ip(app.test_client(), "198.51.100.8")
    signups = [
        post_form(client, "/signup", {"email": f"s{i}@example.com", "password": PASSWORD}).status_code for i in range(3)
    ]
    assert signups == [303, 303, 429]
    resets = [post_form(client, "/reset-password", {"email": "s0@example.com"}).status_code for _ in range(3)]
    assert resets == [303, 303, 429]
    resends = [post_form(client, "/confirm/resend", {"email": "s0@example.com"}).status_code for _ in range(3)]
    assert resends == [303, 303, 429]
    # Two signups, two resets (one known address), two resends: six messages, no more.
    assert len(smtp.wait_for(6)) == 6
    other = set_ip(app.test_client(), "198.51.100.9")
    assert post_form(other, "/signup", {"email": "t@example.com", "password": PASSWORD}).status_code == 303


def test_password_checks_in_account_settings_are_limited_too(make_app, smtp):
    # Each form has its own per-IP budget of LOGIN_RATE_LIMIT.
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    create_user(app, "ua@example.com")
    client = set_ip(app.test_client(), "198.51.100.10")
    assert login(client, "ua@example.com", PASSWORD).status_code == 302
    token = csrf_token(client, "/account")
    password_guesses = [
        client.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current_password": f"guess number {i}",
                "new_password": "a fine new pass phrase 77",
            },
        ).status_code
        for i in range(4)
    ]
    email_guesses = [
        client.post(
            "/account/email", data={"csrf_token": token, "password": f"guess number {i}", "new_email": "b@example.com"}
        ).status_code
        for i in range(4)
    ]
    assert password_guesses == email_guesses == [400, 400, 400, 429]


def _limiter_hooks(app):
    """The request hooks of this app that belong to Flask-Limiter's package."""
    tables = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    return [func for table in tables for funcs in table.values() for func in funcs
            if getattr(func, "__module__", "").startswith("flask_limiter")
            or getattr(getattr(func, "func", None), "__module__", "").startswith("flask_limiter")]


def test_without_an_app_wide_limit_no_limiter_hook_runs_and_view_limits_still_hold(make_app, smtp):
    # Every limit of the portal is on a view: Flask-Limiter's app-wide hooks would search an
    # empty set of limits on every page. They are taken out, and the view's own check remains.
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    assert _limiter_hooks(app) == []
    client = set_ip(app.test_client(), "198.51.100.40")
    assert _attempts(client, 3) == [400, 400, 429]
    assert [client.get("/").status_code for _ in range(5)] == [200] * 5


def test_an_app_wide_default_limit_keeps_the_limiter_hooks_and_applies_to_every_page(make_app, smtp):
    app = make_app(RATELIMIT_DEFAULT="3 per minute", LOGIN_RATE_LIMIT="50 per minute")
    assert len(_limiter_hooks(app)) == 3  # before_request, after_request, teardown_request
    client = set_ip(app.test_client(), "198.51.100.41")
    assert [client.get("/privacy").status_code for _ in range(4)] == [200, 200, 200, 429]
