"""No user enumeration: identical answers for known and unknown addresses, and equal bcrypt work."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import select

from portal.extensions import db as _db
from tests.accounts_support import (
    bcrypt_spy,
    create_user,
    login,
    normalise_page,
    set_ip,
)
from tests.helpers import PASSWORD, csrf_token, post_form, text_part

# Per-response randomness and clock-derived values; everything else must match byte for byte.
VOLATILE_HEADERS = ("Content-Security-Policy", "Set-Cookie", "X-RateLimit-Reset", "Retry-After")


def _comparable(response):
    headers = {k: v for k, v in response.headers.items() if k not in VOLATILE_HEADERS}
    return response.status_code, headers, normalise_page(response.get_data(as_text=True))


def test_signup_with_a_registered_email_looks_identical_and_mails_the_owner(app, smtp):
    create_user(app, "owner@example.com")
    # Two visitors from two addresses, so each has the same per-IP budget left.
    fresh = post_form(
        set_ip(app.test_client(), "192.0.2.1"), "/signup", {"email": "newcomer@example.com", "password": PASSWORD},
        follow_redirects=True,
    )
    taken = post_form(
        set_ip(app.test_client(), "192.0.2.2"), "/signup", {"email": "OWNER@example.com", "password": PASSWORD},
        follow_redirects=True,
    )
    assert fresh.status_code == taken.status_code == 200
    assert _comparable(fresh) == _comparable(taken)
    assert fresh.get_data() != b"" and "Check your inbox" in fresh.get_data(as_text=True)

    smtp.wait_for(2)
    [warning] = smtp.to("owner@example.com")
    assert "tried to sign up" in warning["Subject"]
    body = text_part(warning)
    assert "/reset-password" in body and "/confirm/" not in body
    [confirmation] = smtp.to("newcomer@example.com")
    assert "/confirm/" in text_part(confirmation)


def test_signup_for_an_unconfirmed_address_resends_its_confirmation(app, smtp):
    create_user(app, "pending@example.com", confirmed=False)
    response = post_form(app.test_client(), "/signup", {"email": "pending@example.com", "password": PASSWORD},
                         follow_redirects=True)
    assert "Check your inbox" in response.get_data(as_text=True)
    [message] = smtp.wait_for(1)
    assert "/confirm/" in text_part(message)


def test_reset_request_answers_the_same_for_unknown_addresses(app, smtp):
    create_user(app, "known@example.com")
    known = post_form(set_ip(app.test_client(), "192.0.2.1"), "/reset-password", {"email": "known@example.com"})
    unknown = post_form(set_ip(app.test_client(), "192.0.2.2"), "/reset-password", {"email": "unknown@example.com"})
    invalid = post_form(set_ip(app.test_client(), "192.0.2.3"), "/reset-password", {"email": "not an address"})
    assert _comparable(known) == _comparable(unknown) == _comparable(invalid)
    [message] = smtp.wait_for(1)
    assert message["To"] == "known@example.com"


def test_every_login_failure_says_invalid_email_or_password_with_one_status(app, smtp):
    create_user(app, "lena@example.com")
    cases = {
        "wrong password": ("lena@example.com", "definitely not the password"),
        "unknown email": ("ghost@example.com", PASSWORD),
        "malformed email": ("not-an-email", PASSWORD),
        "short password": ("lena@example.com", "x"),
    }
    bodies = {}
    for label, (email, password) in cases.items():
        response = login(set_ip(app.test_client(), f"192.0.2.{len(bodies) + 10}"), email, password)
        assert response.status_code == 400, label
        page = response.get_data(as_text=True)
        assert "Invalid email or password." in page, label
        bodies[label] = normalise_page(page).replace(email, "EMAIL")
    assert len(set(bodies.values())) == 1, "the failure pages differ"


def test_unknown_email_costs_a_real_bcrypt_check_at_the_configured_cost(make_app, smtp, monkeypatch):
    app = make_app(BCRYPT_ROUNDS=5)
    create_user(app, "mia@example.com")
    with bcrypt_spy(monkeypatch) as spy:
        login(app.test_client(), "mia@example.com", "wrong password entirely")
        known = list(spy.costs)
        spy.reset()
        login(app.test_client(), "nobody@example.com", "wrong password entirely")
        unknown = list(spy.costs)
        spy.reset()
        login(app.test_client(), "garbage", "wrong password entirely")
        malformed = list(spy.costs)
    assert known == unknown == malformed == [5]


@pytest.fixture
def slow_smtp():
    """A mail server that takes 1.5 s before it says hello (and then hangs up)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=lambda c=conn: (stop.wait(1.5), c.close()), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def test_reset_and_resend_answers_do_not_wait_for_the_mail_server(make_app, slow_smtp, caplog):
    # The web process's own delivery thread, not the test client's synchronous pass.
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=slow_smtp, TEST_DELIVER_AFTER_REQUEST=False)
    create_user(app, "slow@example.com")
    create_user(app, "pending@example.com", confirmed=False)
    timings = {}
    for path, email in (
        ("/reset-password", "slow@example.com"),
        ("/reset-password", "nobody@example.com"),
        ("/confirm/resend", "pending@example.com"),
        ("/confirm/resend", "nobody@example.com"),
    ):
        client = set_ip(app.test_client(), f"192.0.2.{len(timings) + 30}")
        token = csrf_token(client, path)
        start = time.perf_counter()
        response = client.post(path, data={"csrf_token": token, "email": email})
        timings[(path, email)] = time.perf_counter() - start
        assert response.status_code == 303
    # An email to a registered address would otherwise cost the server's 1.5 s before the answer.
    assert max(timings.values()) < 1.0, timings
    # The two real messages are queued; the two strangers left no address behind.
    from portal.mail.models import Delivery

    with app.app_context():
        rows = _db.session.execute(select(Delivery.status, Delivery.to_addr).order_by(Delivery.id)).all()
    assert sorted(tuple(r) for r in rows if r[0] != "void") == [
        ("pending", "pending@example.com"), ("pending", "slow@example.com")]
    assert [r[1] for r in rows if r[0] == "void"] == [None, None]
