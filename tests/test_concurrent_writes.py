"""Simultaneous visitors on the default SQLite deployment (one process, several threads):
consent decisions, inquiries and answers queue for the write lock instead of failing with
"database is locked" (a 500). Found by hammering a live gunicorn; proven here with threads."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.consent.models import ConsentRecord
from portal.extensions import db
from portal.privacy.models import Inquiry
from tests.helpers import csrf_token, run_together

THREADS = 8




def _clients(app, path: str) -> tuple[list, list[str]]:
    clients = []
    for i in range(THREADS):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{i + 1}"
        clients.append(client)
    return clients, [csrf_token(c, path) for c in clients]


def _count(app, model) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_simultaneous_first_consent_decisions_are_all_recorded(make_app):
    app = make_app(GA_MEASUREMENT_ID="G-TEST123")
    clients, tokens = _clients(app, "/cookies")
    statuses: list[int] = []

    def decide(i: int) -> None:
        response = clients[i].post("/consent", data={"csrf_token": tokens[i], "action": "accept_all", "next": "/"})
        statuses.append(response.status_code)

    run_together(decide, THREADS)
    assert statuses == [303] * THREADS
    assert _count(app, ConsentRecord) == THREADS


def test_simultaneous_inquiries_are_all_stored_and_acknowledged(make_app, smtp):
    app = make_app(DPO_EMAIL="dpo@example.org")
    clients, tokens = _clients(app, "/privacy/contact")
    statuses: list[int] = []

    def submit(i: int) -> None:
        response = clients[i].post("/privacy/contact", data={
            "csrf_token": tokens[i], "email": f"person{i}@example.com", "topic": "access",
            "message": "Please tell me what you hold about me.",
        })
        statuses.append(response.status_code)

    run_together(submit, THREADS)
    assert statuses == [200] * THREADS
    assert _count(app, Inquiry) == THREADS
    with app.app_context():
        assert all(db.session.scalars(select(Inquiry.dpo_notified)).all())
    assert len(smtp.wait_for(2 * THREADS)) == 2 * THREADS  # one to the DPO, one acknowledgement each
