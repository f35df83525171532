"""The Nu HTML checker finds 0 errors on the console's desk, breach, people and report pages, with
their forms' errors (one vnu run; skipped like tests/test_html_valid.py where vnu is missing)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.browser.test_staff_desk_browser import CODES, PERSON, STAFF, _seed
from tests.browser.ui_support import build_app
from tests.test_html_valid import VNU_JAR, client_for, require_vnu, token

PAGES = ("/staff", "/staff/desk", "/staff/desk/DP-BROWSE00", "/staff/desk/DP-BROWSE01", "/staff/breaches",
         "/staff/breaches/1", "/staff/people", "/staff/consent", "/staff/health", "/staff/audit-log")
BAD_POSTS = (
    ("case-reply-errors", "/staff/desk/DP-BROWSE00", "/staff/desk/DP-BROWSE00/reply", {"subject": "", "body": ""}),
    ("case-erase-errors", "/staff/desk/DP-BROWSE00", "/staff/desk/DP-BROWSE00/erase", {"password": "wrong"}),
    ("breach-errors", "/staff/breaches", "/staff/breaches", {"discovered_at": "soon", "summary": ""}),
    ("people-errors", "/staff/people", "/staff/people", {"email": "ida", "reason": ""}),
)


def test_console_pages_are_valid_html(tmp_path: Path) -> None:
    java = require_vnu()
    app = build_app(tmp_path)
    _seed(app)
    staff = client_for(app)
    login = staff.get("/login").get_data(as_text=True)
    assert staff.post("/login", data={"csrf_token": token(login), "email": STAFF,
                                      "password": "correct horse battery staple 42"}).status_code in (302, 303)
    # The seeded staff member has an authenticator: the second step with a recovery code.
    verify = staff.get("/login/verify").get_data(as_text=True)
    assert staff.post("/login/verify", data={"csrf_token": token(verify), "code": CODES.pop()}).status_code == 303
    pages = {}
    for path in PAGES:
        response = staff.get(path)
        assert response.status_code == 200, path
        pages[path.strip("/").replace("/", "-")] = response.get_data(as_text=True)
    for name, form_page, path, data in BAD_POSTS:
        response = staff.post(path, data={"csrf_token": token(staff.get(form_page).get_data(as_text=True)), **data})
        assert response.status_code == 400, name
        pages[name] = response.get_data(as_text=True)
    look = staff.post("/staff/people", data={"csrf_token": token(pages["staff-people"]), "email": PERSON,
                                             "reason": "checking the markup"})
    pages["person"] = staff.get(look.headers["Location"]).get_data(as_text=True)
    folder = tmp_path / "html"
    folder.mkdir()
    files = []
    for name, html in pages.items():
        (folder / f"{name}.html").write_text(html, encoding="utf-8")
        files.append(str(folder / f"{name}.html"))
    run = subprocess.run([java, "-Xss1m", "-jar", str(VNU_JAR), "--format", "json", "--exit-zero-always", *files],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    messages = json.loads(run.stderr or run.stdout)["messages"]
    errors = [f"{Path(m.get('url', '')).stem}:{m.get('lastLine')}: {m['message']} [{m.get('extract', '').strip()}]"
              for m in messages if m["type"] == "error" or m.get("subType") == "fatal"]
    assert errors == [], "\n".join(errors)
