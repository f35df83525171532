"""The fuzz table's known-bad values, sent by a signed-in staff member to every field and route
parameter of the console's desk, breach, people and report pages: never a 5xx, never a traceback,
never the probe markup reflected. (tests/test_fuzz.py sends them as non-staff, who get 404.)"""

from __future__ import annotations

import itertools
import logging
import re
from urllib.parse import quote

import pytest

from tests.helpers import csrf_token
from tests.staff_support import account, post, seed_inquiry, staff_client
from tests.test_fuzz import FORMS, NASTY, PROBE_FOUND

BLUEPRINTS = ("staff_desk", "staff_breaches", "staff_people", "staff_reports")


def store_sensitive(value: str) -> bool:
    """Values a database can treat differently (PostgreSQL refuses NUL in text, overflows integers,
    compares Unicode by its own rules, has column lengths); the rest (markup, traversal, template
    probes) meets the same Python code on either store."""
    return "\x00" in value or len(value) > 30 or value.lstrip("-").isdigit() or not value.isascii()


@pytest.fixture
def console(app, smtp):
    person = account(app, "person@example.com")
    seed_inquiry(app, "DP-CASE0001", user_id=person)
    staff = staff_client(app)
    post(staff, "/staff/breaches", {"discovered_at": "2026-01-01 10:00", "summary": "seed"},
         token_from="/staff/breaches")
    look = post(staff, "/staff/people", {"email": "person@example.com", "reason": "fuzzing the console"},
                token_from="/staff/people").headers["Location"]
    return app, staff, look.rsplit("/", 1)[1]


def test_known_bad_values_as_staff(console, caplog, backend):
    app, staff, look = console
    # Every value on SQLite; on PostgreSQL the ones a store can treat differently (a third of the
    # list, a third of the minutes: the suite runs on two cores).
    values = NASTY if backend == "sqlite" else [v for v in NASTY if store_sensitive(v)]
    token = csrf_token(staff, "/staff")
    real = {"reference": "DP-CASE0001", "breach_id": "1", "look": look}
    sent = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in BLUEPRINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            slots = [("field", f) for f in FORMS[rule.endpoint]] + [("param", a) for a in sorted(rule.arguments)]
            for (kind, name), value in itertools.product(slots or [("none", "")], values):
                path = rule.rule
                for argument in rule.arguments:
                    filled = value if (kind, name) == ("param", argument) else real[argument]
                    escaped = quote(filled, safe="")
                    path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", lambda _m, e=escaped: e, path)
                form = {"csrf_token": token, **({name: value} if kind == "field" else {})}
                if rule.endpoint == "staff_desk.erase" and kind == "field":
                    form[name] = value + "-never-the-password"
                with caplog.at_level(logging.ERROR, logger="portal"):
                    if method == "GET":
                        response = staff.get(path, query_string={k: v for k, v in form.items() if k != "csrf_token"})
                    else:
                        response = staff.open(path, method=method, data=form)
                sent += 1
                body = response.get_data(as_text=True)
                assert response.status_code < 500, (rule.endpoint, path, form)
                assert "Traceback" not in body, (rule.endpoint, form)
                if "html" in (response.content_type or ""):
                    assert not PROBE_FOUND.search(body), (rule.endpoint, form)
                assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
                if staff.get_cookie("portal_sid") is None:
                    raise AssertionError(f"{rule.endpoint} signed the staff member out: {form}")
                if kind == "none":
                    break
    assert sent > (500 if backend == "sqlite" else 150)
