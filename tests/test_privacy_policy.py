"""/privacy: the policy text verbatim, its blanks filled, and the configured retention periods."""

from __future__ import annotations

import html
import re

import pytest

from portal.privacy import policy
from tests.privacy_support import browser

POLICY = policy.POLICY_FILE.read_text(encoding="utf-8")


@pytest.fixture
def client(app):
    return browser(app)


def _main_text(page: str) -> str:
    main = page.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def test_policy_file_is_the_spec_verbatim():
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1].parent / "shared" / "000_f7f129da4bb483d3.txt"
    if not spec.is_file():
        pytest.skip("../shared is not beside this checkout")
    assert policy.POLICY_FILE.read_bytes() == spec.read_bytes()


def test_every_sentence_of_the_policy_is_on_the_page_with_the_blanks_filled(make_app):
    app = make_app(SITE_NAME="Acme Portal", DPO_EMAIL="dpo@acme.example")
    page = browser(app).get("/privacy").get_data(as_text=True)
    text = _main_text(page)
    filled = (
        POLICY.replace("visits to, which", "visits to Acme Portal, which")
        .replace("(login to uses", "(login to Acme Portal uses")
        .replace("use because we", "use Acme Portal because we")
        .replace("via email to:", "via email to: dpo@acme.example")
    )
    for paragraph in filled.split("\n"):
        if paragraph.strip():
            assert " ".join(paragraph.split()) in text, paragraph[:60]
    assert 'href="mailto:dpo@acme.example"' in page
    assert '<time datetime="2020-04-01">1.4.2020</time>' in page


def test_headings_and_paragraphs_are_semantic(client):
    page = client.get("/privacy").get_data(as_text=True)
    assert '<h1 id="policy-h">Privacy policy</h1>' in page
    assert '<h2 id="what-are-cookies-for">What are cookies for?</h2>' in page
    assert '<h2 id="personal-data-stores">Personal data stores</h2>' in page
    assert page.count("<p") >= 5


def test_site_name_is_escaped(make_app):
    app = make_app(SITE_NAME="<b>Evil</b>")
    page = browser(app).get("/privacy").get_data(as_text=True)
    assert "<b>Evil</b>" not in page and "&lt;b&gt;Evil&lt;/b&gt;" in page


def test_without_dpo_email_the_page_says_so_and_links_the_form(client):
    response = client.get("/privacy")
    text = _main_text(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "via email to: (no data-protection address is configured yet)" in text
    assert 'href="/privacy/contact"' in response.get_data(as_text=True)
    assert "mailto:" not in response.get_data(as_text=True).split("<footer")[0]


def test_retention_section_shows_the_configured_periods(make_app):
    app = make_app(LOGIN_IP_RETENTION_DAYS=30, INQUIRY_RETENTION_DAYS=400, SESSION_IDLE_TIMEOUT=7200)
    text = _main_text(browser(app).get("/privacy").get_data(as_text=True))
    assert "Login attempts (with IP addresses): 30 days" in text
    assert "Answered data-protection inquiries: 400 days" in text
    assert "Expired login sessions: 2 hours" in text
    # Every rule the purge runs and that names a setting is stated on the page.
    with app.app_context():
        from portal import personal_data

        for rule in personal_data.retention_rules(app):
            if rule.setting:
                assert rule.kind[:1].upper() + rule.kind[1:] in text


def test_a_changed_policy_text_is_noticed(app, monkeypatch, tmp_path):
    broken = tmp_path / "policy.txt"
    broken.write_text(POLICY.replace("visits to, which", "visits, which"), encoding="utf-8")
    monkeypatch.setattr(policy, "POLICY_FILE", broken)
    with app.app_context(), pytest.raises(policy.PolicyTextError):
        policy.blocks()


@pytest.mark.parametrize(("setting", "value", "expected"), [
    ("X_DAYS", 1, "1 day"), ("X_DAYS", 90, "90 days"), ("T", 21600, "6 hours"),
    ("T", 86400, "1 day"), ("T", 90, "90 seconds"), ("T", 600, "10 minutes"),
])
def test_humanise(setting, value, expected):
    assert policy.humanise(setting, value) == expected
