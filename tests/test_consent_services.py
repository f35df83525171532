"""The preferences panel's per-service switches: a service runs only when its category and its own
switch are on; a form without them (the contract's per-category fields) decides per category."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.consent import service, state
from portal.consent.models import ConsentRecord
from portal.security.tokens import make_token
from tests.consent_support import ALL_VENDORS, csp, decide, scripts
from tests.helpers import csrf_token


@pytest.fixture
def vendors_app(make_app):
    return make_app(**ALL_VENDORS)


@pytest.fixture
def vclient(vendors_app):
    return vendors_app.test_client()


def save(client, *fields: tuple[str, str]):
    data = MultiDict([("csrf_token", csrf_token(client, "/cookies")), ("action", "save"), ("next", "/"), *fields])
    return client.post("/consent", data=data)


def loaded(client) -> set[str]:
    return {t.split('data-consent-service="')[1].split('"')[0] for t in scripts(client.get("/").get_data(as_text=True))
            if "data-consent-service" in t}


def test_the_panel_offers_a_switch_per_service_only_where_a_category_has_several(vclient):
    page = vclient.get("/").get_data(as_text=True)
    panel = page[page.index("<details"):page.index("</details>")]
    assert 'name="per_service" value="1"' in panel
    assert 'name="service" value="ga4"' in panel and 'name="service" value="gtm"' in panel
    assert 'name="service" value="smartchat"' not in panel  # chat's only service goes with chat


def test_one_analytics_service_switched_off_is_not_loaded_nor_in_the_csp_beyond_the_other(vendors_app, vclient):
    response = save(vclient, ("analytics", "1"), ("per_service", "1"), ("service", "ga4"))
    assert response.status_code == 303
    assert loaded(vclient) == {"ga4"}
    with vendors_app.test_request_context("/"):
        raw = vclient.get_cookie(state.cookie_name()).value
        decision = state.decode(raw)
        assert decision is not None and decision.granted == {"analytics"} and decision.off == {"gtm"}
        record = vendors_app.extensions["sqlalchemy"].session.scalars(select(ConsentRecord)).one()
        assert record.granted_list == ["analytics"] and record.refused_list == ["chat", "service:gtm"]
    cookies = vclient.get("/cookies").get_data(as_text=True)
    assert 'value="ga4" id="consent-service-ga4" checked' in cookies
    assert 'value="gtm" id="consent-service-gtm" aria' in cookies  # unchecked


def test_a_service_switched_on_under_a_refused_category_stays_off(vclient):
    save(vclient, ("per_service", "1"), ("service", "gtm"), ("chat", "1"))
    assert loaded(vclient) == {"smartchat"}
    assert "googletagmanager" not in csp(vclient.get("/"))


def test_without_per_service_switches_the_category_decides_for_all_its_services(vclient):
    decide(vclient, "save", "analytics")
    assert loaded(vclient) == {"ga4", "gtm"}
    # Accept all ignores any service switch: everything is granted.
    data = {"csrf_token": csrf_token(vclient, "/cookies"), "action": "accept_all", "per_service": "1"}
    vclient.post("/consent", data=data)
    assert loaded(vclient) == {"ga4", "gtm", "smartchat"}


def test_turning_one_service_off_keeps_the_cookies_another_granted_service_shares(vendors_app):
    with vendors_app.test_request_context("/"):
        # GTM off, GA4 on: _ga and _ga_<id> are still GA4's and stay.
        one = service.cookies_to_expire(["chat"], ["_ga", "_ga_X"], off=["gtm"])
        assert "_ga" not in one and "_ga_X" not in one
        both = service.cookies_to_expire(["chat"], ["_ga", "_ga_X"], off=["gtm", "ga4"])
        assert "_ga" in both and "_ga_X" in both


@pytest.mark.parametrize("off", [["gtm", "gtm"], ["Not An Id"], "gtm", [1], ["x"] * 17])
def test_a_cookie_with_a_malformed_off_list_reads_as_no_decision(vendors_app, off):
    with vendors_app.test_request_context("/"):
        from portal.consent import registry

        payload = {"v": 1, "id": "a" * 32, "rev": registry.revision(), "cats": ["analytics"],
                   "t": int(datetime.now(UTC).timestamp()), "off": off}
        assert state.decode(make_token(state.PURPOSE, payload)) is None
        payload["off"] = ["gtm"]
        assert state.decode(make_token(state.PURPOSE, payload)).off == {"gtm"}  # type: ignore[union-attr]
        del payload["off"]
        assert state.decode(make_token(state.PURPOSE, payload)).off == frozenset()  # type: ignore[union-attr]
