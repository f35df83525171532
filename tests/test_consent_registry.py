"""The service registry: configured services only, operator additions, and the cookie policy page."""

from __future__ import annotations

import re

import pytest

from portal import ConfigError
from portal.consent.registry import configured_services, known_hosts
from tests.consent_support import ALL_VENDORS, decide

CONFIGS = {
    "none": {},
    "ga4": {"GA_MEASUREMENT_ID": "G-TEST123"},
    "gtm": {"GTM_CONTAINER_ID": "GTM-TEST123"},
    "smartchat": {"SMARTCHAT_KEY": "k", "SMARTCHAT_SCRIPT_URL": "https://widget.smartchat.example/l.js"},
    "all": ALL_VENDORS,
}
EXPECTED = {"none": set(), "ga4": {"ga4"}, "gtm": {"gtm"}, "smartchat": {"smartchat"},
            "all": {"ga4", "gtm", "smartchat"}}
OPERATOR_SERVICE = {
    "id": "maps",
    "category": "analytics",
    "vendor": "Example Maps s.r.o.",
    "purpose": "Shows where our office is.",
    "cookies": [{"name": "exmaps_id", "lifetime": "30 days", "purpose": "Remembers the map view."}],
    "hosts": ["tiles.maps.example"],
    "script_url": "https://cdn.maps.example/embed.js",
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_cookie_page_lists_exactly_the_configured_services(make_app, name):
    app = make_app(**CONFIGS[name])
    with app.app_context():
        services = configured_services()
        assert {s.id for s in services} == EXPECTED[name]
        assert all(isinstance(s.hosts, tuple) and s.hosts for s in services)
    page = app.test_client().get("/cookies").get_data(as_text=True)
    assert set(re.findall(r'data-service="([^"]+)"', page)) == EXPECTED[name]
    # The necessary cookies are always listed, and nothing can switch them off.
    for cookie in ("portal_sid", "session", "portal_consent"):
        assert f"<code>{cookie}</code>" in page
    assert 'name="necessary"' not in page
    assert ('name="analytics"' in page) == bool(EXPECTED[name] & {"ga4", "gtm"})
    assert ('name="chat"' in page) == ("smartchat" in EXPECTED[name])
    for absent in {"ga4", "gtm", "smartchat"} - EXPECTED[name]:
        marker = {"ga4": "Google Analytics 4", "gtm": "Google Tag Manager", "smartchat": "SmartChat"}[absent]
        assert marker not in page


def test_each_cookie_has_name_provider_purpose_lifetime_and_category(make_app):
    page = make_app(**ALL_VENDORS).test_client().get("/cookies").get_data(as_text=True)
    service = page[page.index('data-service="ga4"') :]
    assert "Google Ireland Ltd." in service[: service.index("</div>")]  # the provider, named once
    table = page[page.index("<caption>Analytics cookies</caption>") :]
    table = table[: table.index("</table>")]  # the category is the table's
    assert re.search(r'<code>_ga</code></td>\s*<td data-label="Set by">Google Analytics 4[^<]*</td>\s*'
                     r'<td data-label="Purpose">[^<]+</td>\s*<td data-label="Lifetime">2 years</td>', table)
    assert table.count("<code>_ga</code>") == 1  # listed once, with every service that sets it
    assert "<code>_ga_TEST123</code>" in table


def test_operator_adds_a_service_in_instance_config_without_code(make_app, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(f"CONSENT_SERVICES = [{OPERATOR_SERVICE!r}]\n")
    app = make_app()
    with app.app_context():
        assert [s.id for s in configured_services()] == ["maps"]
        assert known_hosts() == {"tiles.maps.example", "cdn.maps.example"}
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert "Example Maps" in page and "cdn.maps.example" not in page  # asked about, not loaded
    assert "<code>exmaps_id</code>" in client.get("/cookies").get_data(as_text=True)
    decide(client, "save", "analytics")
    response = client.get("/")
    assert 'src="https://cdn.maps.example/embed.js"' in response.get_data(as_text=True)
    assert "https://tiles.maps.example" in response.headers["Content-Security-Policy"]
    client.set_cookie("exmaps_id", "1")
    expired = decide(client, "reject_all").headers.getlist("Set-Cookie")
    assert any(h.startswith("exmaps_id=;") and "Max-Age=0" in h for h in expired)


def test_services_can_come_from_the_environment_as_json(make_app, monkeypatch):
    import json

    monkeypatch.setenv("PORTAL_CONSENT_SERVICES", json.dumps([OPERATOR_SERVICE]))
    app = make_app()
    with app.app_context():
        assert [s.id for s in configured_services()] == ["maps"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"GA_MEASUREMENT_ID": "UA-1234-1"}, "GA_MEASUREMENT_ID"),
        ({"GA_MEASUREMENT_ID": "G-1\"><script>"}, "GA_MEASUREMENT_ID"),
        ({"GTM_CONTAINER_ID": "G-TEST123"}, "GTM_CONTAINER_ID"),
        ({"SMARTCHAT_KEY": "k"}, "set both or neither"),
        ({"SMARTCHAT_KEY": "k", "SMARTCHAT_SCRIPT_URL": "http://insecure.example/x.js"}, "https://"),
        ({"SMARTCHAT_KEY": "k k", "SMARTCHAT_SCRIPT_URL": "https://a.example/x.js"}, "SMARTCHAT_KEY"),
        ({"CONSENT_SERVICES": {"id": "x"}}, "list"),
        ({"CONSENT_SERVICES": [{**OPERATOR_SERVICE, "category": "necessary"}]}, "category"),
        ({"CONSENT_SERVICES": [{**OPERATOR_SERVICE, "vendor": ""}]}, "vendor"),
        ({"CONSENT_SERVICES": [{**OPERATOR_SERVICE, "colour": "red"}]}, "unknown keys"),
        ({"CONSENT_SERVICES": [{**OPERATOR_SERVICE, "hosts": ["https://x.example/"]}]}, "hosts"),
        ({"CONSENT_SERVICES": [{**OPERATOR_SERVICE, "cookies": [{"name": "a;b"}]}]}, "cookies[0]"),
        ({"CONSENT_SERVICES": [OPERATOR_SERVICE, OPERATOR_SERVICE]}, "duplicate"),
        ({"CONSENT_PROOF_RETENTION_DAYS": 0}, "CONSENT_PROOF_RETENTION_DAYS"),
    ],
)
def test_a_malformed_service_stops_start_up_with_a_clear_message(make_app, settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_app(create_schema=False, **settings)


def test_retention_default_is_three_years(app):
    assert app.config["CONSENT_PROOF_RETENTION_DAYS"] == 1095
