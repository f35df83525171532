"""Subscription, one-click unsubscribe, archive, rendering, personal data, and the commands."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal import personal_data
from portal.accounts.models import User
from portal.extensions import db as _db
from portal.newsletter import issues, subscriptions
from portal.newsletter.models import Delivery, Subscription, SubscriptionEvent
from portal.newsletter.render import markdown_to_html, markdown_to_text
from portal.newsletter.sender import Sender, SendOptions
from portal.security.tokens import make_token
from tests.helpers import post_form
from tests.newsletter_support import make_issue, make_user


def _user(email: str) -> User:
    return _db.session.scalar(select(User).where(User.email_key == email))


def _subscribed(app, email: str) -> bool:  # type: ignore[no-untyped-def]
    # Its own app context: a context held across test-client requests would share `g` (and the
    # CSRF token cached there) between requests, which a browser never does.
    with app.app_context():
        try:
            return subscriptions.is_subscribed(_user(email))
        finally:
            _db.session.remove()


def _token(email: str) -> str:
    user = _user(email)
    return subscriptions.unsubscribe_token(user.id, user.email_key)


# --- subscription ---------------------------------------------------------------------------


def test_signup_checkbox_is_unticked_and_opt_in_is_recorded_with_source(app, client, auth):
    page = client.get("/signup").get_data(as_text=True)
    checkbox = re.search(r'<input[^>]*name="newsletter"[^>]*>', page).group(0)
    assert "checked" not in checkbox
    auth.signup("opt@example.com", newsletter=True)
    auth.signup("no@example.com", newsletter=False)
    assert _subscribed(app, "opt@example.com")
    assert not _subscribed(app, "no@example.com")
    with app.app_context():
        event = subscriptions.history(_user("opt@example.com"))[0]
        assert (event.subscribed, event.source) == (True, "signup")


def test_unconfirmed_signup_opt_in_gets_nothing_until_confirmed(app, client, auth, smtp):
    auth.signup("later@example.com", newsletter=True)
    with app.app_context():
        make_user("confirmed@example.com")
        issue_id = make_issue()
        assert issues.start_issue(issue_id).recipients == 1
        outcome = Sender(issue_id, SendOptions(retry_delay=0)).run()
        _db.session.remove()
    assert outcome.sent == 1
    assert not [m for m in smtp.to("later@example.com") if m["List-Id"]]


def test_preferences_page_subscribes_and_unsubscribes(app, client, auth):
    auth.register("pref@example.com")
    assert client.get("/newsletter").status_code == 200
    assert "Not subscribed" in client.get("/account").get_data(as_text=True)
    response = post_form(client, "/newsletter", {"subscribed": "y"})
    assert response.status_code == 302
    assert _subscribed(app, "pref@example.com")
    assert "Subscribed" in client.get("/account").get_data(as_text=True)
    post_form(client, "/newsletter", {})
    assert not _subscribed(app, "pref@example.com")
    with app.app_context():
        sources = [(e.subscribed, e.source) for e in subscriptions.history(_user("pref@example.com"))]
    assert sources == [(True, "preferences"), (False, "preferences")]


def test_preferences_need_login_and_csrf(app, client, auth):
    assert client.get("/newsletter").headers["Location"].startswith("/login?next=")
    auth.register("csrf@example.com")
    assert client.post("/newsletter", data={"subscribed": "y"}).status_code == 400
    assert not _subscribed(app, "csrf@example.com")


# --- one-click unsubscribe ------------------------------------------------------------------


def test_get_shows_a_button_and_never_unsubscribes(app, db):
    make_user("get@example.com")
    client = app.test_client()
    response = client.get(f"/newsletter/unsubscribe/{_token('get@example.com')}")
    assert response.status_code == 200
    assert '<button type="submit">Unsubscribe</button>' in response.get_data(as_text=True)
    _db.session.rollback()
    assert subscriptions.is_subscribed(_user("get@example.com"))


def test_one_click_post_without_cookie_or_csrf_in_both_encodings_is_idempotent(app, db):
    make_user("oc@example.com")
    token = _token("oc@example.com")
    client = app.test_client(use_cookies=False)
    first = client.post(f"/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert first.status_code == 200 and "You are unsubscribed" in first.get_data(as_text=True)
    second = client.post(f"/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"},
                         content_type="multipart/form-data")
    assert second.status_code == 200
    _db.session.rollback()
    assert not subscriptions.is_subscribed(_user("oc@example.com"))
    events = subscriptions.history(_user("oc@example.com"))
    assert [(e.subscribed, e.source) for e in events] == [(True, "admin"), (False, "email-link")]


def test_tampered_foreign_or_stale_tokens_get_a_clear_400(app, db):
    user = make_user("tok@example.com")
    token = _token("tok@example.com")
    client = app.test_client(use_cookies=False)
    foreign = make_token("confirm", {"uid": user.id, "e": "x"})
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), foreign, "x" * 2000, "nonsense"):
        for method in (client.get, client.post):
            response = method(f"/newsletter/unsubscribe/{bad}")
            assert response.status_code in (400, 404), (bad, response.status_code)
            if response.status_code == 400:
                assert "not valid" in response.get_data(as_text=True)
    # The address changes: the old link dies.
    user.email, user.email_key = "new@example.com", "new@example.com"
    _db.session.commit()
    response = client.post(f"/newsletter/unsubscribe/{token}")
    assert response.status_code == 400 and "no longer applies" in response.get_data(as_text=True)
    _db.session.rollback()
    assert subscriptions.is_subscribed(_user("new@example.com"))


# --- rendering and archive ------------------------------------------------------------------

HOSTILE = """# Title

<script>alert('x')</script>
[click](javascript:alert(1)) and <a href="javascript:alert(2)" onclick="evil()">raw</a>
<img src=x onerror=alert(3)> <iframe src="https://evil.example"></iframe>
[ok](https://example.org)
"""


def test_markdown_is_sanitised_in_both_parts(app, db):
    with app.test_request_context():
        html = markdown_to_html(HOSTILE)
        text = markdown_to_text(HOSTILE)
    lowered = html.lower()
    for bad in ("<script", "javascript:", "onclick", "onerror", "<iframe"):
        assert bad not in lowered, bad
    assert '<a href="https://example.org" rel="noopener noreferrer">ok</a>' in html
    assert "<h1>Title</h1>" in html
    assert "script" not in text.lower() and "javascript:" not in text.lower()
    assert "click and" in text


def test_archive_lists_started_issues_without_personal_data(app, db, smtp):
    make_user("arch@example.com")
    sent = make_issue("Sent issue", HOSTILE)
    make_issue("Draft issue")
    issues.start_issue(sent)
    Sender(sent, SendOptions(retry_delay=0)).run()
    client = app.test_client()
    listing = client.get("/newsletter/archive").get_data(as_text=True)
    assert "Sent issue" in listing and "Draft issue" not in listing
    page = client.get(f"/newsletter/archive/{sent}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "arch@example.com" not in body and "unsubscribe/" not in body
    assert "<script>alert" not in body
    assert client.get("/newsletter/archive/999").status_code == 404


# --- personal data --------------------------------------------------------------------------


def test_export_and_erase_cover_subscription_history_and_deliveries(app, db, smtp):
    user = make_user("pd@example.com")
    issue_id = make_issue()
    issues.start_issue(issue_id)
    Sender(issue_id, SendOptions(retry_delay=0)).run()
    assert not personal_data.unhandled_models(app)
    handler = next(h for h in personal_data.handlers(app) if h.name == "newsletter")
    exported = handler.export(user)["newsletter"]
    assert exported["subscribed"] is True
    assert exported["history"][0]["source"] == "admin"
    assert exported["deliveries"][0]["status"] == "sent"
    handler.erase(user)
    _db.session.commit()
    for model in (Subscription, SubscriptionEvent, Delivery):
        assert _db.session.scalars(select(model)).all() == []


# --- commands -------------------------------------------------------------------------------


def test_create_prints_the_id_last_and_preview_shows_both_parts(app, runner, tmp_path, db):
    body = tmp_path / "issue.md"
    body.write_text("Hello **there**\n", encoding="utf-8")
    result = runner.invoke(args=["newsletter", "create", "--subject", "November", "--body-file", str(body)])
    assert result.exit_code == 0, result.output
    issue_id = int(result.output.strip().splitlines()[-1])
    preview = runner.invoke(args=["newsletter", "preview", str(issue_id)])
    assert preview.exit_code == 0
    assert "----- text/plain -----" in preview.output and "<strong>there</strong>" in preview.output
    bad = runner.invoke(args=["newsletter", "create", "--subject", "", "--body-file", str(body)])
    assert bad.exit_code != 0 and "subject" in bad.output


def test_test_send_does_not_count_against_the_cap(app, runner, db, smtp):
    make_user("op@example.com")
    issue_id = make_issue()
    result = runner.invoke(args=["newsletter", "test-send", str(issue_id), "op@example.com"])
    assert result.exit_code == 0, result.output
    message = smtp.wait_for(1)[0]
    assert message["Subject"] == "[TEST] Monthly news"
    _db.session.rollback()
    assert issues.get_issue(issue_id).started_at is None
    first = runner.invoke(args=["newsletter", "send", str(issue_id)])
    assert first.exit_code == 0, first.output


def test_send_status_suppress_and_refusal(app, runner, db, smtp):
    make_user("a@example.com")
    make_user("b@example.com")
    first, second = make_issue("One"), make_issue("Two")
    result = runner.invoke(args=["newsletter", "send", str(first)])
    assert result.exit_code == 0, result.output
    assert "This run: 2 sent" in result.output and "Issue totals:" in result.output
    refused = runner.invoke(args=["newsletter", "send", str(second)])
    assert refused.exit_code == 1 and "The next issue may go out from" in refused.output
    usage = runner.invoke(args=["newsletter", "send", str(second), "--second-this-month"])
    assert usage.exit_code == 1 and "--reason" in usage.output
    status = runner.invoke(args=["newsletter", "status", str(first)])
    assert status.exit_code == 0 and re.search(r"sent\s+2", status.output)
    suppressed = runner.invoke(args=["newsletter", "suppress", "A@example.com", "--reason", "bounce"])
    assert suppressed.exit_code == 0, suppressed.output
    _db.session.rollback()
    assert not subscriptions.is_subscribed(_user("a@example.com"))
    assert subscriptions.history(_user("a@example.com"))[-1].source == "bounce"
    unknown = runner.invoke(args=["newsletter", "suppress", "nobody@example.com", "--reason", "complaint"])
    assert unknown.exit_code == 1
    assert runner.invoke(args=["newsletter", "status", "999"]).exit_code == 1
    assert runner.invoke(args=["newsletter", "send", "abc"]).exit_code == 2
