"""Base pages, error pages, health check, security headers and cookie flags."""

from __future__ import annotations

import re
import shutil
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.helpers import Auth, csrf_token

TRACE_MARKERS = ("Traceback", 'File "', "werkzeug", "sqlalchemy.exc")


def test_home_page_is_accessible_html_with_footer_links(client):
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<html lang="en">', page)
    assert '<main id="main"' in page and 'href="#main"' in page
    assert 'href="/privacy"' in page and 'href="/cookies"' in page


def test_pages_reference_no_external_host(client):
    page = client.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not re.match(r"^(https?:)?//", url), url


@pytest.mark.parametrize(("path", "method", "status"), [("/no-such-page", "get", 404), ("/healthz", "post", 405)])
def test_error_pages_have_no_traceback(client, path, method, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert not any(marker in body for marker in TRACE_MARKERS)


def test_500_page_rolls_back_and_shows_no_traceback(app, client):
    from portal.accounts.models import User
    from portal.extensions import db

    left_pending: list[int] = []

    @app.get("/_boom")
    def boom():
        db.session.add(User(email="half@example.com", email_key="half@example.com", password_hash="x"))
        raise RuntimeError("secret internals")

    @app.teardown_request
    def look(_error):  # runs after the error handler, before the session is removed
        left_pending.append(len(db.session.new))

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/_boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internals" not in body and "Traceback" not in body
    assert "Something went wrong" in body
    assert left_pending == [0]  # the half-done work was rolled back by the 500 handler


@pytest.mark.parametrize("code", [400, 403, 404, 405, 429, 500, 503])
def test_every_error_status_has_a_page(app, client, code):
    from flask import abort

    app.add_url_rule(f"/_abort{code}", f"abort{code}", lambda: abort(code))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get(f"/_abort{code}")
    assert response.status_code == code
    assert "<h1>" in response.get_data(as_text=True)
    assert not any(marker in response.get_data(as_text=True) for marker in TRACE_MARKERS)


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_healthz_reports_503_when_database_is_gone(make_app, backend, tmp_path, pg_url):
    from portal.extensions import db

    if backend == "sqlite":
        path = tmp_path / "doomed.sqlite3"
        app = make_app(DATABASE_URL=f"sqlite:///{path}", create_schema=False)
        assert app.test_client().get("/healthz").status_code == 200
        with app.app_context():
            db.engine.dispose()
        for leftover in tmp_path.glob("doomed.sqlite3*"):
            leftover.unlink()
        path.write_bytes(b"this is not a database" * 100)
    else:
        admin = make_url(pg_url).set(drivername="postgresql", database="postgres")
        name = f"doomed_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        app = make_app(DATABASE_URL=url, create_schema=False)
        assert app.test_client().get("/healthz").status_code == 200
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["status"] != "ok"


def test_security_headers_and_csp_nonce(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert f'nonce="{nonce}"' in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # development over http
    second = client.get("/login").headers["Content-Security-Policy"]
    assert re.search(r"'nonce-([^']+)'", second).group(1) != nonce


def test_session_cookie_flags_in_development(client):
    response = client.get("/login")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookie_name_flags_and_hsts(make_app):
    app = make_app(ENV="production", BASE_URL="https://portal.example")
    client = app.test_client()
    response = client.get("/login", base_url="https://portal.example")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "session=" in c)
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_garbage_session_cookie_is_ignored(client):
    client.set_cookie("session", "garbage.\x00.notsigned")
    client.set_cookie("portal_sid", "x" * 4000)
    assert client.get("/").status_code == 200
    assert client.get("/account").status_code == 302


def test_form_without_csrf_token_is_refused(client):
    client.get("/login")
    response = client.post("/login", data={"email": "a@example.com", "password": "x" * 12})
    assert response.status_code == 400


def test_static_assets_are_served_locally(client):
    response = client.get("/static/portal.css")
    assert response.status_code == 200 and b"system-ui" in response.data
    response.close()


def test_proxy_fix_trusts_only_the_configured_hops(make_app):
    from flask import request

    for count, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = make_app(TRUSTED_PROXY_COUNT=count)

        @app.get("/_ip")
        def show_ip():
            return request.remote_addr or ""

        body = app.test_client().get(
            "/_ip", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
        )
        assert body.get_data(as_text=True) == expected


def test_csrf_failure_without_any_cookie_explains_cookies_are_required(client):
    token = csrf_token(client, "/login")
    client._cookies.clear()  # the browser refused our cookie
    response = client.post("/login", data={"csrf_token": token, "email": "a@example.com", "password": "x" * 12})
    assert response.status_code == 400
    assert "Cookies are required to sign in" in response.get_data(as_text=True)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_database_gone_under_a_signed_in_page_answers_503_with_retry_after(make_app, tmp_path, smtp, caplog):
    """The database vanishing between two requests (a restart, a lost volume) is an outage to wait
    out: the portal's own 503 page with Retry-After, never a traceback, and a log line that names
    the failure without quoting the statement (whose parameters hold the session id's hash)."""
    from portal.errors import DATABASE_RETRY_AFTER
    from portal.extensions import db

    folder = tmp_path / "volume"
    folder.mkdir()
    app = make_app(DATABASE_URL=f"sqlite:///{folder / 'portal.sqlite3'}")
    client = app.test_client()
    Auth(client, smtp).register()
    assert client.get("/account").status_code == 200

    with app.app_context():
        db.engine.dispose()  # no open handle keeps the deleted file readable
    shutil.rmtree(folder)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    caplog.set_level("WARNING", logger="portal")
    response = client.get("/account")
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(DATABASE_RETRY_AFTER)
    assert "Temporarily unavailable" in body
    assert not any(marker in body for marker in TRACE_MARKERS)
    lines = [r.getMessage() for r in caplog.records if "Database unavailable" in r.getMessage()]
    assert lines and all("SELECT" not in line and "sessions" not in line for line in lines), lines
    assert "OperationalError" in lines[0]
