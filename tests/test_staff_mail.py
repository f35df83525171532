"""The console's mail page: the engine's own figures, failed and uncertain messages without their
bodies, and re-queueing them — staff only, recorded in the audit log."""

from __future__ import annotations

from sqlalchemy import select, update

from portal.extensions import db as _db
from portal.mail import enqueue
from portal.mail import status as queue
from portal.mail.models import FAILED, PENDING, UNCERTAIN, Delivery
from portal.staff.models import StaffAction
from tests.accounts_support import login
from tests.staff_console_support import account, console_urls, post, staff_client


def _queue_two(app) -> list[int]:
    with app.test_request_context("/"):
        rows = [enqueue(f"person{i}@example.net", "Secret body subject", "reset", kind="account.reset",
                        reset_url=f"https://example.org/reset/TOKEN{i}", minutes=30) for i in range(2)]
        _db.session.commit()
        ids = [r.id for r in rows]
        _db.session.execute(update(Delivery).where(Delivery.id == ids[0]).values(status=FAILED, last_error="550 no"))
        _db.session.execute(update(Delivery).where(Delivery.id == ids[1]).values(status=UNCERTAIN,
                                                                                   last_error="no reply"))
        _db.session.commit()
        _db.session.remove()
    return ids


def test_the_mail_pages_are_404_to_others(app):
    client = app.test_client()
    urls = console_urls(app, ("/staff/mail",))
    assert ("GET", "/staff/mail") in urls and ("POST", "/staff/mail/retry") in urls
    for method, path in urls:
        assert client.open(path, method=method).status_code == 404
    account(app, "someone@example.org")
    login(client, "someone@example.org")
    for method, path in urls:
        assert client.open(path, method=method).status_code == 404


def test_the_page_shows_the_engines_figures_and_problems_without_bodies(make_app, smtp):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    _queue_two(app)
    client = staff_client(app)
    page = client.get("/staff/mail").get_data(as_text=True)
    with app.app_context():
        figures = queue.figures()
        _db.session.remove()
    reset = next(k for k in figures.kinds if k.kind == "account.reset")
    assert reset.failed == 1 and reset.uncertain == 1
    assert "person0@example.net" in page and "person1@example.net" in page and "550 no" in page
    assert "TOKEN" not in page and "Secret body subject" not in page


def test_retry_requeues_and_is_recorded(make_app, smtp):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    failed_id, uncertain_id = _queue_two(app)
    client = staff_client(app)
    assert post(client, "/staff/mail/retry", {"which": "failed"}, page="/staff/mail").status_code == 302
    with app.app_context():
        assert _db.session.get(Delivery, failed_id).status == PENDING
        assert _db.session.get(Delivery, uncertain_id).status == UNCERTAIN
        assert post(client, "/staff/mail/retry", {"which": "uncertain"}, page="/staff/mail").status_code == 302
        _db.session.rollback()
        assert _db.session.get(Delivery, uncertain_id, populate_existing=True).status == PENDING
        actions = list(_db.session.scalars(select(StaffAction.action).order_by(StaffAction.id)))
        _db.session.remove()
    assert actions == ["mail.retry", "mail.retry"]
    # A bad choice or a missing token: 400, nothing re-queued, nothing recorded.
    assert post(client, "/staff/mail/retry", {"which": "everything"}, page="/staff/mail").status_code == 400
    assert client.post("/staff/mail/retry", data={"which": "failed"}).status_code == 400
