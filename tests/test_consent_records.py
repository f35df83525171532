"""Proof of consent, the consent cookie's strictness, re-prompting, and bad input."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.consent import state
from portal.consent.models import ConsentRecord, ConsentSnapshot
from portal.db import utcnow
from portal.extensions import db
from portal.security.tokens import make_token
from tests.consent_support import ALL_VENDORS, decide, tracker_free


@pytest.fixture
def vendors_app(make_app):
    return make_app(**ALL_VENDORS)


@pytest.fixture
def vclient(vendors_app):
    return vendors_app.test_client()


def _records(app):
    with app.app_context():
        return db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()


def test_each_decision_is_recorded_with_what_was_shown(vendors_app, vclient):
    decide(vclient, "accept_all")
    decide(vclient, "save", "chat")
    raw = vclient.get_cookie("portal_consent").value
    with vendors_app.test_request_context(headers={"Cookie": f"portal_consent={raw}"}):
        cookie = state.current_decision()
        revision = state.registry.revision()
    with vendors_app.app_context():
        records = db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        assert [(r.action, r.granted_list, r.refused_list) for r in records] == [
            ("accept_all", ["analytics", "chat"], []),
            ("save", ["chat"], ["analytics"]),
        ]
        # One browser, one consent id across its decisions; the cookie carries the latest one.
        assert {r.consent_id for r in records} == {cookie.consent_id}
        assert cookie.granted == {"chat"} and cookie.revision == revision
        assert all(r.revision == revision and r.user_id is None and r.via == "form" for r in records)
        assert records[1].expires_at - records[1].decided_at == timedelta(days=182)
        snapshot = records[0].snapshot
        assert snapshot is records[1].snapshot and db.session.scalar(select(func.count(ConsentSnapshot.id))) == 1
        assert "Cookies on Portal" in snapshot.banner_text and "Reject all" in snapshot.banner_text
        assert "Google Analytics 4" in snapshot.banner_text and "SmartChat" in snapshot.registry_json
        assert snapshot.policy_name.startswith("policy-") and "Effective date" in snapshot.policy_text
        columns = {c.name for c in ConsentRecord.__table__.columns}
        assert not columns & {"ip", "user_agent", "ip_address"}


def test_a_changed_banner_text_gets_its_own_snapshot(make_app):
    first = make_app(**ALL_VENDORS)
    decide(first.test_client(), "reject_all")
    second = make_app(**ALL_VENDORS, SITE_NAME="Other Portal")
    decide(second.test_client(), "reject_all")
    with second.app_context():
        snapshots = db.session.scalars(select(ConsentSnapshot).order_by(ConsentSnapshot.id)).all()
        assert [s.banner_text.splitlines()[0] for s in snapshots] == ["Cookies on Portal", "Cookies on Other Portal"]


def test_logged_in_decisions_are_linked_exported_and_unlinked_on_erasure(vendors_app, smtp):
    from portal.accounts.models import User
    from tests.helpers import Auth

    client = vendors_app.test_client()
    Auth(client, smtp).register("carol@example.com")
    decide(client, "save", "analytics")
    with vendors_app.app_context():
        user = db.session.scalar(select(User).where(User.email == "carol@example.com"))
        record = db.session.scalar(select(ConsentRecord))
        assert record.user_id == user.id
        from portal import personal_data

        handler = next(h for h in personal_data.handlers(vendors_app) if h.name == "consent")
        assert ConsentRecord in handler.models and not personal_data.unhandled_models(vendors_app) & {ConsentRecord}
        exported = handler.export(user)["consent_records"]
        assert len(exported) == 1 and exported[0]["granted"] == ["analytics"]
        assert exported[0]["consent_id"] == record.consent_id
        # The whole account's erasure, in the registry's order (the account itself last).
        for each in personal_data.handlers(vendors_app):
            each.erase(user)
        db.session.commit()
        assert db.session.scalar(select(User).where(User.email == "carol@example.com")) is None
        record = db.session.scalar(select(ConsentRecord))
        assert record is not None and record.user_id is None  # the anonymous proof stays


def test_retention_deletes_records_whose_decision_lapsed_long_ago(vendors_app, vclient):
    decide(vclient, "reject_all")
    decide(vclient, "accept_all")
    with vendors_app.app_context():
        old, recent = db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        old.expires_at = utcnow() - timedelta(days=1096)
        recent.expires_at = utcnow() - timedelta(days=1094)
        db.session.commit()
        from portal import personal_data

        rule = next(r for r in personal_data.retention_rules(vendors_app)
                    if r.setting == "CONSENT_PROOF_RETENTION_DAYS")
        assert rule.purge() == 1
        assert [r.action for r in db.session.scalars(select(ConsentRecord))] == ["accept_all"]


def _signed(app, payload):
    with app.test_request_context():
        return make_token("consent", payload)


def _garbage(app):
    with app.test_request_context():
        from portal.consent.registry import revision

        rev = revision()
    good = {"v": 1, "id": "a" * 32, "rev": rev, "cats": ["analytics"], "t": int(time.time())}
    valid = _signed(app, good)
    return {
        "empty": "",
        "junk": "not-a-token",
        "huge": "x" * 3000,
        "tampered": valid[:-3] + ("AAA" if not valid.endswith("AAA") else "BBB"),
        "other purpose": make_token_for(app, "unsubscribe", good),
        "not a dict": _signed(app, ["analytics"]),
        "bad id": _signed(app, {**good, "id": "../etc"}),
        "unknown category": _signed(app, {**good, "cats": ["analytics", "marketing"]}),
        "duplicate category": _signed(app, {**good, "cats": ["analytics", "analytics"]}),
        "extra key": _signed(app, {**good, "admin": True}),
        "future": _signed(app, {**good, "t": int(time.time()) + 86400}),
        "too old": _signed(app, {**good, "t": int(time.time()) - 183 * 86400}),
        "time as text": _signed(app, {**good, "t": str(int(time.time()))}),
        "old revision": _signed(app, {**good, "rev": "0" * 16}),
    }


def make_token_for(app, purpose, payload):
    with app.test_request_context():
        return make_token(purpose, payload)


def test_garbage_consent_cookies_mean_no_decision(vendors_app):
    with vendors_app.app_context():
        from portal.consent.registry import known_hosts

        hosts = known_hosts()
    cases = _garbage(vendors_app)
    for name, value in cases.items():
        client = vendors_app.test_client()
        client.set_cookie("portal_consent", value)
        for path in ("/", "/cookies"):
            response = client.get(path)
            page = response.get_data(as_text=True)
            assert response.status_code == 200, name
            assert tracker_free(response, hosts) == [], name
            assert ('id="consent-banner"' in page) == (path == "/"), name
            assert ("You have not made a choice yet" in page) == (path == "/cookies"), name
    # The control: the same shape, correctly signed and current, is a decision.
    client = vendors_app.test_client()
    good = _signed(vendors_app, {"v": 1, "id": "a" * 32, "rev": _garbage_rev(vendors_app), "cats": ["analytics"],
                                 "t": int(time.time())})
    client.set_cookie("portal_consent", good)
    assert "gtag/js?id=G-TEST123" in client.get("/").get_data(as_text=True)


def _garbage_rev(app):
    with app.test_request_context():
        return state.registry.revision()


def test_a_registry_change_asks_everyone_again(make_app, backend):
    first = make_app(GA_MEASUREMENT_ID="G-TEST123")
    client = first.test_client()
    decide(client, "accept_all")
    cookie = client.get_cookie("portal_consent").value
    assert "gtag/js" in client.get("/").get_data(as_text=True)
    # Same secret and database, one more service: a new revision.
    second = make_app(create_schema=False, GA_MEASUREMENT_ID="G-TEST123", SMARTCHAT_KEY="k",
                      SMARTCHAT_SCRIPT_URL="https://widget.smartchat.example/loader.js")
    other = second.test_client()
    other.set_cookie("portal_consent", cookie)
    page = other.get("/").get_data(as_text=True)
    assert 'id="consent-banner"' in page and "gtag/js" not in page
    decide(other, "reject_all")
    with second.app_context():
        ids = {r.consent_id for r in db.session.scalars(select(ConsentRecord))}
        revisions = {r.revision for r in db.session.scalars(select(ConsentRecord))}
    assert len(ids) == 1 and len(revisions) == 2  # same browser, asked again under the new revision


def test_changing_a_category_changes_the_revision(make_app):
    plain = make_app(CONSENT_SERVICES=[{"id": "maps", "category": "chat", "vendor": "V", "purpose": "p"}])
    moved = make_app(CONSENT_SERVICES=[{"id": "maps", "category": "analytics", "vendor": "V", "purpose": "p"}])
    revisions = []
    for app in (plain, moved):
        with app.app_context():
            revisions.append(state.registry.revision())
    assert revisions[0] != revisions[1]


@pytest.mark.parametrize("form", [{"action": "maybe"}, {"action": ""}, {}, {"action": "accept_all" * 500}])
def test_unknown_actions_are_a_clear_400(vclient, form):
    from tests.helpers import csrf_token

    response = vclient.post("/consent", data={**form, "csrf_token": csrf_token(vclient, "/cookies")})
    assert response.status_code == 400
    assert "Accept all" in response.get_data(as_text=True)
    assert vclient.get_cookie("portal_consent") is None


def test_consent_needs_csrf(vclient, vendors_app):
    vclient.get("/")
    response = vclient.post("/consent", data={"action": "accept_all"})
    assert response.status_code == 400 and vclient.get_cookie("portal_consent") is None
    assert _records(vendors_app) == []


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil",
                                    "/consent"])
def test_redirects_stay_on_the_site(vclient, target):
    response = decide(vclient, "reject_all", next=target)
    assert response.status_code == 303 and response.location.startswith("/")
    assert "evil" not in response.location and "javascript" not in response.location
    assert vclient.get(response.location).status_code == 200


def test_redirect_back_to_the_page_the_choice_was_made_on(vclient):
    assert decide(vclient, "reject_all", next="/signup?x=1").location == "/signup?x=1"


def test_settings_button_opens_the_cookie_page_and_records_nothing(vclient, vendors_app):
    response = decide(vclient, "settings", next="/signup")
    assert response.status_code == 303 and response.location == "/cookies?next=/signup"
    assert _records(vendors_app) == [] and vclient.get_cookie("portal_consent") is None
    page = vclient.get(response.location).get_data(as_text=True)
    assert 'name="next" value="/signup"' in page


def test_script_gets_json_with_the_new_tags_and_reloads_only_after_a_withdrawal(vclient, vendors_app):
    from tests.helpers import csrf_token

    token = csrf_token(vclient, "/cookies")
    headers = {"Accept": "application/json"}

    def post(action, *categories):
        data = {"action": action, "csrf_token": token, **{c: "1" for c in categories}}
        return vclient.post("/consent", data=data, headers=headers).get_json()

    assert post("reject_all") == {"status": "ok", "granted": [], "reload": False, "tags": ""}
    chat = post("save", "chat")
    assert chat["granted"] == ["chat"] and not chat["reload"]
    assert "widget.smartchat.example" in chat["tags"] and "google" not in chat["tags"]
    everything = post("accept_all")
    assert not everything["reload"] and "smartchat" not in everything["tags"]  # only what is new
    tags = everything["tags"]
    assert tags.index('"consent", "default"') < tags.index("gtag/js?id=G-TEST123") < tags.index("gtm.js?id=")
    assert post("save", "chat") == {"status": "ok", "granted": ["chat"], "reload": True, "tags": ""}
    assert [r.via for r in _records(vendors_app)] == ["script"] * 4


def test_a_flood_of_decisions_is_rate_limited(vclient, vendors_app):
    from tests.helpers import csrf_token

    token = csrf_token(vclient, "/cookies")
    responses = [vclient.post("/consent", data={"action": "reject_all", "csrf_token": token}) for _ in range(31)]
    assert [r.status_code for r in responses] == [303] * 30 + [429]
    assert "Retry-After" in responses[-1].headers
    assert len(_records(vendors_app)) == 30
