"""Every query the hot pages send is served by an index: EXPLAINed on SQLite and PostgreSQL.

The statements are not a hand-kept list: the test records what the engine really sends while a
person signs in and opens every account page (and the next page of every "show more"), then asks
the database for each one's plan. A full scan of a table that grows with use — or a sort of all of
a person's rows — fails the test, whichever query it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import text

from portal.extensions import db
from tests.accounts_support import create_user, logged_in_client
from tests.history_support import add_history, statements

# Tables that grow with people and their use of the portal.
BIG = {"users", "login_sessions", "login_attempts", "consent_records", "newsletter_subscription_events",
       "newsletter_subscriptions", "mail_deliveries", "privacy_inquiries", "staff_actions"}
PAGES = ["/", "/account", "/account/security", "/account/sessions", "/account/email", "/account/data",
         "/account/sign-ins", "/account/data/cookie-choices", "/account/data/newsletter-history"]
MORE = re.compile(r'href="(/account[^"?]*\?after=[^"]+)"')


def _hot_statements(app: Any) -> list[tuple[str, Any]]:
    for n in range(20):  # other people, so a plan that reads everyone's rows has rows to read
        add_history(app, create_user(app, f"other{n}@example.com"), 5)
    add_history(app, create_user(app, "plans@example.com"), 60)
    with statements(app) as seen:
        stranger = app.test_client()
        assert stranger.get("/").status_code == 200 and stranger.get("/login").status_code == 200
        client = logged_in_client(app, "plans@example.com")
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 200, path
            for more in MORE.findall(response.get_data(as_text=True)):
                assert client.get(more.replace("&amp;", "&")).status_code == 200, more
    wanted = [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE"))]
    assert len(wanted) > 20, wanted
    unique: dict[str, tuple[str, Any]] = {}
    for sql, params in wanted:
        unique.setdefault(sql, (sql, params))
    return list(unique.values())


def _sqlite_problems(app: Any, sql: str, params: Any) -> list[str]:
    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            rows = connection.cursor().execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        finally:
            connection.close()
    problems = []
    for row in rows:
        detail = str(row[-1])
        scanned = re.match(r"SCAN (\w+)", detail)
        if scanned and scanned.group(1) in BIG:
            problems.append(detail)  # the whole table (or the whole of an index) is read
        if "TEMP B-TREE" in detail:
            problems.append(detail)  # every matching row is read and sorted
    return problems


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("Plans", []):
        found += _plan_nodes(child)
    return found


def _postgres_problems(app: Any, sql: str, params: Any) -> list[str]:
    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            # Tables of test size make a scan and a sort cheaper than any index; with these off the
            # planner only falls back on them where no index can do the job (as on a big table).
            for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
                cursor.execute(f"SET {setting} = off")
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
            connection.rollback()
        finally:
            connection.close()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    problems = []
    for node in _plan_nodes(plan[0]["Plan"]):
        relation = node.get("Relation Name", "")
        if node["Node Type"] == "Seq Scan" and relation in BIG:
            problems.append(f"Seq Scan on {relation}")
        if relation in BIG and "ROW(" in node.get("Filter", ""):
            problems.append(f"keyset condition read row by row on {relation}: {node['Filter']}")
        if node["Node Type"] in ("Sort", "Incremental Sort"):
            below = {n.get("Relation Name") for n in _plan_nodes(node)} & BIG
            if below:
                problems.append(f"{node['Node Type']} of rows from {', '.join(sorted(below))}")
    return problems


def test_no_hot_query_scans_a_big_table(make_app, backend):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    if backend == "postgresql":
        with app.app_context():
            db.session.execute(text("ANALYZE"))
            db.session.commit()
    explain = _postgres_problems if backend == "postgresql" else _sqlite_problems
    failures = {}
    for sql, params in _hot_statements(app):
        problems = explain(app, sql, params)
        if problems:
            failures[" ".join(sql.split())] = problems
    assert failures == {}


@pytest.mark.parametrize("sql", [
    "SELECT * FROM login_attempts ORDER BY ip",
    "SELECT * FROM login_sessions WHERE ip = '192.0.2.1'",
])
def test_the_check_catches_a_full_scan(make_app, backend, sql):
    """The test above would fail on a query without an index (it is not vacuously green)."""
    app = make_app()
    explain = _postgres_problems if backend == "postgresql" else _sqlite_problems
    assert explain(app, sql, {} if backend == "postgresql" else ())
