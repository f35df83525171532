"""The Nu HTML checker (vnu, from the npm registry, on the machine's JDK) finds 0 errors on every
page and state: the banner, forms with their errors, the account sections signed in with several
sessions, the cookie and privacy pages, the newsletter pages, 404 and 429.

Pages are fetched with the test client (no browser needed), written to a folder and checked in ONE
run of vnu, so the JVM starts once. .ci/run installs vnu into ~/.cache/portal-vnu.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.browser.ui_support import DEVICES, EMAIL, PAGES, PASSWORD, build_app, seed_account

DEFAULT_JAR = Path.home() / ".cache/portal-vnu/node_modules/vnu-jar/build/dist/vnu.jar"
VNU_JAR = Path(os.environ.get("PORTAL_VNU_JAR", DEFAULT_JAR))
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def require_vnu() -> str:
    java = shutil.which("java")
    missing = None if java and VNU_JAR.is_file() else (
        "java is not installed (apt-get install default-jre-headless)" if not java
        else f"{VNU_JAR} is missing (npm install --prefix ~/.cache/portal-vnu vnu-jar)")
    if missing is None:
        return str(java)
    if os.environ.get("PORTAL_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the Nu HTML checker cannot run but PORTAL_TEST_REQUIRE_BROWSER=1: {missing}")
    pytest.skip(missing)


def token(page: str) -> str:
    match = CSRF.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def client_for(app: Any, agent: str = DEVICES[0][0]) -> Any:
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": agent})
    return client


def collect(app: Any) -> dict[str, str]:
    """Every page and state, by name."""
    pages: dict[str, str] = {}
    visitor = client_for(app)

    def get(name: str, client: Any, path: str, status: int = 200) -> str:
        response = client.get(path)
        assert response.status_code == status, (name, path, response.status_code)
        pages[name] = response.get_data(as_text=True)
        return pages[name]

    def post(name: str, client: Any, path: str, data: dict[str, str], status: int) -> None:
        data = {"csrf_token": token(client.get(path).get_data(as_text=True)), **data}
        response = client.post(path, data=data)
        assert response.status_code == status, (name, path, response.status_code)
        pages[name] = response.get_data(as_text=True)

    # The list the browser checks and the screenshots use, anonymous pages first.
    for name, path, needs_login, _action in PAGES:
        if not needs_login:
            get(name, visitor, path, 404 if name == "not-found" else 429 if name == "too-many" else 200)
    assert 'id="consent-banner"' in pages["home"]
    pages["home-gpc"] = client_for(app).get("/", headers={"Sec-GPC": "1"}).get_data(as_text=True)
    get("check-inbox", visitor, "/check-inbox/signup")
    get("signup", visitor, "/signup")
    post("signup-errors", visitor, "/signup", {"email": "not-an-address", "password": "short"}, 400)
    post("login-errors", visitor, "/login", {"email": "", "password": ""}, 400)
    get("reset-password", visitor, "/reset-password")
    get("contact", visitor, "/privacy/contact")
    post("contact-errors", visitor, "/privacy/contact", {"email": "x", "topic": "nope", "message": ""}, 400)
    get("newsletter-archive", visitor, "/newsletter/archive")
    get("newsletter-issue", visitor, "/newsletter/archive/1")
    get("unsubscribe-invalid", visitor, "/newsletter/unsubscribe/not-a-token", 400)
    with app.app_context():
        from portal.accounts.models import User
        from portal.extensions import db
        from portal.newsletter.subscriptions import unsubscribe_token

        user = db.session.scalars(db.select(User)).one()
        link = f"/newsletter/unsubscribe/{unsubscribe_token(user.id, user.email_key)}"
    get("unsubscribe", visitor, link)

    # Signed in (a third device), with the sessions seed_account made on two others.
    member = client_for(app)
    login = token(member.get("/login").get_data(as_text=True))
    signed_in = member.post("/login", data={"csrf_token": login, "email": EMAIL, "password": PASSWORD})
    assert signed_in.status_code in (302, 303)
    for name, path, needs_login, _action in PAGES:
        if needs_login:
            get(name, member, path)
    get("newsletter", member, "/newsletter")
    get("home-member", member, "/")
    post("account-password-errors", member, "/account/password",
         {"current_password": "wrong", "new_password": "short"}, 400)
    # The banner once chosen: the page after "Accept all", with the tags it now carries.
    post("accepted", member, "/consent", {"action": "accept_all", "next": "/"}, 303)
    get("home-accepted", member, "/")
    get("cookies-decided", member, "/cookies")
    del pages["accepted"]
    return pages


def test_every_page_and_state_is_valid_html(tmp_path: Path) -> None:
    java = require_vnu()
    app = build_app(tmp_path)
    seed_account(app)
    with app.app_context():
        from portal.accounts.models import User
        from portal.extensions import db
        from portal.newsletter import issues, subscriptions

        subscriptions.change(db.session.scalars(db.select(User)).one(), True, "preferences")
        db.session.commit()
        issue = issues.create_issue("Spring news", "# Hello\n\nA *short* issue with a [link](https://example.org).")
        issues.start_issue(issue.id)
    pages = collect(app)
    folder = tmp_path / "html"
    folder.mkdir()
    files = []
    for name, html in pages.items():
        target = folder / f"{name}.html"
        target.write_text(html, encoding="utf-8")
        files.append(str(target))
    # A control: a page the checker must reject, so "0 errors" cannot mean "nothing was checked".
    control = folder / "control-invalid.html"
    control.write_text("<!doctype html><html lang=en><title>x</title><p><li>not in a list</p>", encoding="utf-8")
    files.append(str(control))
    run = subprocess.run([java, "-Xss1m", "-jar", str(VNU_JAR), "--format", "json", "--exit-zero-always", *files],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    messages = json.loads(run.stderr or run.stdout)["messages"]
    checked = {Path(m.get("url", "")).name for m in messages}
    assert "control-invalid.html" in checked, "vnu did not report the control page"
    messages = [m for m in messages if not m.get("url", "").endswith("control-invalid.html")]
    errors = [f"{Path(m.get('url', '')).stem}:{m.get('lastLine')}: {m['message']} [{m.get('extract', '').strip()}]"
              for m in messages if m["type"] == "error" or m.get("subType") == "fatal"]
    assert len(pages) >= 25
    assert errors == [], "\n".join(errors)
