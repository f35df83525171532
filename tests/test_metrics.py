"""GET /metrics: protected, aggregate, and free of personal data and tokens."""

from __future__ import annotations

import pytest

from portal import ConfigError
from tests.helpers import PASSWORD, links, path_of, post_form

TOKEN = "metrics-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_no_token_no_endpoint_and_a_wrong_token_is_404(make_app):
    assert make_app().test_client().get("/metrics").status_code == 404
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 404
    assert client.get("/metrics", headers=AUTH).status_code == 200


def test_a_short_token_is_refused_at_start(make_app):
    with pytest.raises(ConfigError, match="PORTAL_METRICS_TOKEN"):
        make_app(METRICS_TOKEN="short")


def test_requests_logins_and_database_figures_without_personal_data(make_app, smtp):
    app = make_app(METRICS_TOKEN=TOKEN, LOGIN_RATE_LIMIT="3 per minute", GA_MEASUREMENT_ID="G-TEST123")
    client = app.test_client()
    # Counters are per process (the suite runs many apps in one): compare before and after.
    before = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    email = "metrics.person@example.com"
    post_form(client, "/signup", {"email": email, "password": PASSWORD})
    link = next(u for u in links(smtp.to(email)[-1]) if "/confirm/" in u)
    client.get(path_of(link))
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 302
    other = app.test_client()
    statuses = [post_form(other, "/login", {"email": email, "password": "wrong wrong wrong 1"}).status_code
                for _ in range(3)]
    assert statuses == [400, 400, 429]
    post_form(other, "/consent", {"action": "reject_all"}, token_from="/cookies")
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)

    def grew(name: str, **labels: str) -> float:
        return _value(text, name, **labels) - _value(before, name, **labels)

    assert grew("portal_login_attempts_total", outcome="success") == 1
    assert grew("portal_login_attempts_total", outcome="failure") == 2
    assert grew("portal_login_attempts_total", outcome="rate_limited") == 1
    assert grew("portal_http_requests_total", endpoint="accounts.confirm", method="GET") == 1
    assert grew("portal_http_requests_total", endpoint="accounts.login", method="POST", status="429") == 1
    assert grew("portal_http_request_duration_seconds_count", endpoint="accounts.login", method="POST") == 4
    assert _value(text, "portal_mail_deliveries", outcome="sent") >= 1
    assert "portal_mail_queue_messages" in text and "portal_inquiries_open" in text
    assert _value(text, "portal_consent_decisions", action="reject_all") == 1
    assert _value(text, "portal_database_up") == 1
    # Endpoint names, never paths: no token, no address, no IP in any label.
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in text and email not in text and "127.0.0.1" not in text
    assert "/confirm/" not in text
