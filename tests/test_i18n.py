"""Languages: the catalogues are complete, templates have no text outside translation calls, and
the language is chosen the way docs/i18n.md says (?lang, cookie, account, Accept-Language)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

from tests.accounts_support import create_user, login

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "portal" / "translations"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _catalogue(language: str) -> Any:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def _extracted() -> dict[Any, str]:
    """Every marked string in the code and templates, as `make messages` extracts them."""
    method_map = [("portal/**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]
    options = {"templates/**.html": {"trimmed": "true"}, "templates/**.txt": {"trimmed": "true"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
                "lazy_ngettext": (1, 2), "N_": None}
    found: dict[Any, str] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        found.setdefault(message, filename)
    return found


LANGUAGES = sorted(p.name for p in TRANSLATIONS.iterdir() if (p / "LC_MESSAGES" / "messages.po").is_file())


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_string_is_translated_not_fuzzy_with_the_same_placeholders(language):
    catalogue = _catalogue(language)
    problems = []
    for message_id, where in _extracted().items():
        message = catalogue.get(message_id)
        ids = message_id if isinstance(message_id, tuple) else (message_id,)
        if message is None:
            problems.append(f"missing ({where}): {ids[0]!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"{'fuzzy' if message.fuzzy else 'untranslated'}: {ids[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(" ".join(ids)))
        for string in strings:
            if set(PLACEHOLDER.findall(string)) != wanted:
                problems.append(f"placeholders differ: {ids[0]!r} -> {string!r}")
    for message in catalogue:
        if message.id and not message.fuzzy:
            # Babel's own checks: python-format consistency, plural count (three for Czech).
            problems += [f"{message.id!r}: {error}" for error in message.check(catalogue)]
    assert problems == [], "\n".join(problems)


def test_czech_plural_rule_has_three_forms():
    catalogue = _catalogue("cs")
    assert catalogue.num_plurals == 3
    assert [catalogue.plural_forms.count(s) for s in ("n == 1", "n >= 2 && n <= 4")] == [1, 1]


# --- no text outside translation calls --------------------------------------------------------------

TEXT_ATTRIBUTES = re.compile(r"""\b(alt|title|aria-label|placeholder)\s*=\s*(["'])(.*?)\2""", re.S)
BUTTON_VALUE = re.compile(r"""<input\b[^>]*type=["']?(?:submit|button)[^>]*\bvalue=(["'])(.*?)\1""", re.S)
LETTERS = re.compile(r"[^\W\d_]{2,}")
ALLOWED = {"JSON"}  # names that are the same in every language
# A header name, a command or a URL path is not prose.
COMMANDS = re.compile(r"\bMessage-ID\b|\bflask [a-z]+ [a-z]+\b|(?<!\w)/[\w/.-]*")


def _untranslated(source: str) -> list[str]:
    """Literal text of a template outside {{ _() }}, {% trans %} and markup: what a person would
    read untranslated. Works on Jinja's token stream, so expressions and comments never count."""
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)  # only lexed, never rendered
    found: list[str] = []
    in_trans = False
    previous_name = ""
    data: list[str] = []
    for _lineno, kind, value in env.lex(source):
        if kind == "whitespace":
            continue
        if kind == "name" and previous_name == "block_begin":
            if value == "trans":
                in_trans = True
            elif value == "endtrans":
                in_trans = False
        previous_name = kind
        if kind == "data" and not in_trans:
            data.append(value)
        elif kind in ("variable_begin", "block_begin"):
            data.append("\x00")  # an expression: not literal text
    text = "".join(data)
    for _name, _quote, value in TEXT_ATTRIBUTES.findall(text):
        if LETTERS.search(value.replace("\x00", "")):
            found.append(value)
    found += [value for _quote, value in BUTTON_VALUE.findall(text) if LETTERS.search(value)]
    text = re.sub(r"<script\b.*?</script>|<style\b.*?</style>|<code\b.*?</code>", " ", text, flags=re.S)
    text = COMMANDS.sub(" ", text)
    text = re.sub(r"<[^>]*>", " ", text)  # tags and their attributes (checked above)
    text = re.sub(r"&\w+;|&#\d+;", " ", text)
    for chunk in text.split("\x00"):
        words = [w for w in LETTERS.findall(chunk) if w not in ALLOWED]
        if words:
            found.append(" ".join(chunk.split())[:80])
    return found


def _templates() -> list[Path]:
    return sorted(p for p in (ROOT / "templates").rglob("*") if p.suffix in (".html", ".txt"))


def test_no_template_has_text_outside_a_translation_call():
    problems = []
    for path in _templates():
        name = path.relative_to(ROOT / "templates").as_posix()
        problems += [f"{name}: {text!r}" for text in _untranslated(path.read_text(encoding="utf-8"))]
    assert problems == [], "\n".join(problems)


def test_the_template_check_finds_what_it_should():
    assert _untranslated("<p>Hello there</p>") == ["Hello there"]
    assert _untranslated('<img alt="A cat" src="{{ x }}">') == ["A cat"]
    assert _untranslated('<input type="submit" value="Send now">') != []
    assert _untranslated("<p>{{ _('Hello') }} · &copy; {{ config.SITE_NAME }}</p>") == []
    assert _untranslated("{% trans %}Hello <a href='{{ url }}'>there</a>{% endtrans %}") == []
    assert _untranslated("{# a comment #}<p>{% if x %}{{ y }}{% endif %}</p>") == []


# --- choosing the language ---------------------------------------------------------------------------


def _lang(response: Any) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    assert match
    return match.group(1)


def test_accept_language_then_cookie_then_query_parameter(client):
    assert _lang(client.get("/")) == "en"
    assert _lang(client.get("/", headers={"Accept-Language": "cs-CZ,cs;q=0.9,en;q=0.5"})) == "cs"
    assert _lang(client.get("/", headers={"Accept-Language": "de, fr;q=0.5"})) == "en"
    response = client.get("/", headers={"Accept-Language": "cs"})
    assert {"Accept-Language", "Cookie"} <= set(response.vary)
    assert _lang(client.get("/?lang=cs")) == "cs"
    assert _lang(client.get("/?lang=xx")) == "en"  # unknown values are ignored
    client.set_cookie("portal_lang", "cs")
    assert _lang(client.get("/", headers={"Accept-Language": "en"})) == "cs"
    assert _lang(client.get("/?lang=en")) == "en"  # that request only
    assert _lang(client.get("/")) == "cs"
    client.set_cookie("portal_lang", "<script>")
    assert _lang(client.get("/")) == "en"


def test_switcher_sets_the_cookie_and_goes_back_without_lang(client):
    page = client.get("/privacy").get_data(as_text=True)
    assert 'action="/language"' in page and 'value="cs"' in page and 'lang="cs"' in page
    response = client.post("/language", data={"language": "cs", "next": "/privacy?lang=en&x=1"},
                           headers={"Origin": "http://localhost"})
    assert response.status_code == 303 and response.location == "/privacy?x=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("portal_lang=cs;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert _lang(client.get("/privacy")) == "cs"


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {}])
def test_switcher_refuses_posts_from_other_sites(client, headers):
    response = client.post("/language", data={"language": "cs", "next": "/"}, headers=headers)
    assert response.status_code == 400 and "Set-Cookie" not in response.headers


@pytest.mark.parametrize("data", [{"language": "xx"}, {"language": ""}, {}, {"language": "cs", "next": "//evil"}])
def test_switcher_bad_input_is_a_4xx_or_a_same_site_redirect(client, data):
    response = client.post("/language", data=data, headers={"Origin": "http://localhost"})
    assert response.status_code in (303, 400)
    if response.status_code == 303:
        assert response.location == "/"


def test_the_signed_in_choice_is_kept_on_the_account_and_mail_follows_it(app, client, smtp):
    from portal.accounts.models import User
    from portal.extensions import db

    create_user(app, "eva@example.com")
    login(client, "eva@example.com")
    client.post("/language", data={"language": "cs", "next": "/account"}, headers={"Origin": "http://localhost"})
    with app.app_context():
        assert db.session.query(User).filter_by(email_key="eva@example.com").one().language == "cs"
    # A fresh browser without the cookie: the account decides.
    client.delete_cookie("portal_lang")
    assert _lang(client.get("/account")) == "cs"
    page = client.get("/account/security").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    from tests.helpers import PASSWORD

    client.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                           "new_password": "an entirely new passphrase 77"},
                headers={"Accept-Language": "en"})
    notice = smtp.wait_for(1)[-1]
    assert "bylo změněno" in str(notice["Subject"])


def test_dates_follow_the_language(app):
    from datetime import UTC, datetime

    from portal.i18n import localtime

    moment = datetime(2020, 4, 1, 12, 5, tzinfo=UTC)
    with app.test_request_context("/?lang=cs"):
        assert localtime(moment, "date") == "1. 4. 2020"
        assert localtime(moment) == "1. 4. 2020 14:05"  # Europe/Prague, summer time
    with app.test_request_context("/?lang=en"):
        assert localtime(moment, "date") == "Apr 1, 2020"


def test_wtforms_own_messages_are_czech(app):
    with app.test_request_context("/?lang=cs", method="POST", data={"topic": "nonsense"}):
        from portal.privacy.forms import InquiryForm

        form = InquiryForm(meta={"csrf": False})
        form.validate()
        assert form.topic.errors == ["Neplatná volba."]
        assert form.email.errors == ["Zadejte prosím svou e-mailovou adresu."]


@pytest.mark.parametrize(("languages", "default"), [(["en", "xx"], "en"), (["en", "cs"], "de"), ([], "en")])
def test_languages_are_validated(make_app, languages, default):
    from portal import ConfigError

    with pytest.raises(ConfigError, match="LANGUAGE"):
        make_app(LANGUAGES=languages, DEFAULT_LANGUAGE=default)


def test_a_czech_default_serves_czech_to_everyone_without_a_preference(make_app):
    app = make_app(LANGUAGES=["cs", "en"], DEFAULT_LANGUAGE="cs")
    assert _lang(app.test_client().get("/")) == "cs"
    assert _lang(app.test_client().get("/", headers={"Accept-Language": "en"})) == "en"


def test_the_policy_and_the_consent_proof_in_czech(make_app):
    from portal.consent.models import ConsentRecord
    from portal.extensions import db

    app = make_app(SITE_NAME="Acme Portál", DPO_EMAIL="dpo@acme.example", GA_MEASUREMENT_ID="G-TEST123")
    client = app.test_client()
    page = client.get("/privacy?lang=cs").get_data(as_text=True)
    assert "Úřadu pro ochranu osobních údajů" in page and "návštěvnosti portálu Acme Portál, což" in page
    assert 'na adresu: <a href="mailto:dpo@acme.example">' in page
    assert '<time datetime="2020-04-01">1. 4. 2020</time>' in page
    home = client.get("/?lang=cs").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)  # type: ignore[union-attr]
    client.post("/consent?lang=cs", data={"csrf_token": token, "action": "reject_all", "next": "/"})
    client.post("/consent?lang=en", data={"csrf_token": token, "action": "accept_all", "next": "/"})
    with app.app_context():
        records = db.session.query(ConsentRecord).order_by(ConsentRecord.id).all()
        assert [r.language for r in records] == ["cs", "en"]
        assert [r.snapshot.language for r in records] == ["cs", "en"]
        assert records[0].revision == records[1].revision  # one revision, a snapshot per language
        assert "Cookies na webu" in records[0].snapshot.banner_text
        assert "Úřad pro ochranu" in records[0].snapshot.policy_text or "Úřadu" in records[0].snapshot.policy_text
        assert "Effective date" in records[1].snapshot.policy_text
