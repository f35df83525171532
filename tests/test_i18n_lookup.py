"""The cheaper catalogue look-up (portal.translate.CataloguesDomain, template_gettext) gives what
Flask-Babel and Jinja's own gettext give: the request's language, the forced one inside
``force_locale``/``language_of``, and the same escaping and %-formatting."""

from __future__ import annotations

from weakref import WeakKeyDictionary

import pytest
from flask import render_template_string
from flask_babel import force_locale, gettext, ngettext
from markupsafe import Markup

from portal import i18n
from portal.i18n import language_of


def test_python_gettext_follows_force_locale_and_comes_back(app):
    with app.test_request_context("/?lang=cs"):
        assert gettext("Cookie policy") == "Zásady používání cookies"
        with force_locale("en"):
            assert gettext("Cookie policy") == "Cookie policy"
        assert gettext("Cookie policy") == "Zásady používání cookies"
        with language_of(language="en"):
            assert gettext("Cookie policy") == "Cookie policy"
        assert gettext("Cookie policy") == "Zásady používání cookies"
    with app.test_request_context("/?lang=en"):
        assert gettext("Cookie policy") == "Cookie policy"
        with force_locale("cs"):
            assert gettext("Cookie policy") == "Zásady používání cookies"


def test_the_portals_gettext_gives_what_flask_babels_gives(app):
    from flask_babel import lazy_gettext, lazy_ngettext

    from portal import translate

    lazy_ours, lazy_theirs = translate.lazy_gettext("Cookie policy"), lazy_gettext("Cookie policy")
    plural_ours = translate.lazy_ngettext("%(num)d day", "%(num)d days", 3)
    plural_theirs = lazy_ngettext("%(num)d day", "%(num)d days", 3)

    def both() -> list[tuple[str, str]]:
        return [
            (translate.gettext("Cookie policy"), gettext("Cookie policy")),
            (translate.gettext("%(a)s%%", a="<b>"), gettext("%(a)s%%", a="<b>")),
            (translate.gettext("100%% sure"), gettext("100%% sure")),  # no variables: not formatted
            (translate.ngettext("%(num)d day", "%(num)d days", 2), ngettext("%(num)d day", "%(num)d days", 2)),
            (str(lazy_ours), str(lazy_theirs)),
            (str(plural_ours), str(plural_theirs)),
        ]

    for path in ("/?lang=cs", "/?lang=en"):
        with app.test_request_context(path):
            pairs = both()
            assert all(ours == theirs for ours, theirs in pairs), pairs
            with force_locale("cs" if path.endswith("en") else "en"):
                forced = both()
                assert all(ours == theirs for ours, theirs in forced), forced
                assert forced[0][0] != pairs[0][0]  # the forced language, not the request's
    with app.app_context():
        assert all(ours == theirs for ours, theirs in both())
        assert translate.gettext("Cookie policy") == "Cookie policy"


def test_outside_a_request_strings_are_untranslated(app):
    with app.app_context():
        assert gettext("Cookie policy") == "Cookie policy"
    assert gettext("Cookie policy") == "Cookie policy"


def test_templates_follow_force_locale_with_the_remembered_strings(app):
    source = "{{ _('Cookie policy') }}|{% trans %}Cookie policy{% endtrans %}|{{ gettext('Cookie policy') }}"
    with app.test_request_context("/?lang=cs"):
        czech = "|".join(["Zásady používání cookies"] * 3)
        assert render_template_string(source) == czech
        with force_locale("en"):
            assert render_template_string(source) == "Cookie policy|Cookie policy|Cookie policy"
        assert render_template_string(source) == czech  # the remembered Czech, not the English


def test_one_render_keeps_its_language_while_a_render_inside_it_uses_another(app):
    # Each render_template call finds its catalogue once; a render inside it (mail in the
    # recipient's language, say) finds its own, and the outer one carries on in its language.
    def czech_inside() -> str:
        with language_of(language="cs"):
            return render_template_string("{{ _('Cookie policy') }}")

    source = ("{{ _('Cookie policy') }}|{{ inner() }}|{{ ngettext('%(num)d day', '%(num)d days', 2) }}"
              "|{{ _('Cookie policy') }}")
    with app.test_request_context("/?lang=en"):
        assert render_template_string(source, inner=czech_inside) == \
            "Cookie policy|Zásady používání cookies|2 days|Cookie policy"
    with app.test_request_context("/?lang=cs"):
        assert render_template_string(source, inner=czech_inside).startswith(
            "Zásady používání cookies|Zásady používání cookies|2 dny|")


def test_macros_imported_without_the_context_still_translate(app):
    loader_source = {"m.html": "{% macro label() %}{{ _('Cookie policy') }}{% endmacro %}"}
    from jinja2 import DictLoader

    env = app.jinja_env.overlay(loader=DictLoader(loader_source))
    with app.test_request_context("/?lang=cs"):
        template = env.from_string("{% import 'm.html' as m %}{{ m.label() }}|{{ _('Cookie policy') }}")
        app.update_template_context(context := {})
        assert template.render(context) == "Zásady používání cookies|Zásady používání cookies"


def test_template_gettext_escapes_and_formats_as_jinja_does(app):
    with app.test_request_context("/?lang=en"):
        # Always a format string: %% reads as %, with or without variables.
        assert render_template_string("{{ _('100%% sure') }}") == "100% sure"
        assert render_template_string("{{ _('%(a)s%%', a='<b>') }}") == "&lt;b&gt;%"
        assert render_template_string("{{ _('%(a)s', a=m) }}", m=Markup("<i>x</i>")) == "<i>x</i>"
        # Twice: the second comes from what was remembered.
        assert render_template_string("{{ _('<b>') }}{{ _('<b>') }}") == "<b><b>"  # msgids are template markup
        plural = "{% trans n=3 %}{{ n }} item{% pluralize %}{{ n }} items{% endtrans %}"
        assert render_template_string(plural) == "3 items"
        assert render_template_string("{{ ngettext('%(num)s item', '%(num)s items', 1) }}") == "1 item"
        assert ngettext("%(num)s item", "%(num)s items", 2) == "2 items"
    with app.test_request_context("/?lang=cs"):
        text = app.jinja_env.from_string("{{ _('Cookie policy') }}").render()  # no autoescape
        assert text == "Zásady používání cookies" and not isinstance(text, Markup)


def test_the_remembered_strings_are_capped(app, monkeypatch):
    monkeypatch.setattr(i18n, "RENDERED_CAP", 2)
    monkeypatch.setattr(i18n, "_RENDERED", WeakKeyDictionary())
    with app.test_request_context("/?lang=en"):
        for n in range(5):
            assert render_template_string("{{ _(s) }}", s=f"text {n}") == f"text {n}"
    assert all(len(memo) <= 2 for memos in i18n._RENDERED.values() for memo in memos)


@pytest.mark.parametrize(("header", "expected"), [
    ("", None),
    ("cs-CZ,cs;q=0.9,en;q=0.8", "cs"),
    ("en-GB,en;q=0.9", "en"),
    ("de-DE,fr;q=0.5", None),
    ("en;q=0.2, cs;q=0.8", "cs"),
    ("*", "cs"),
    (";;;,,q=x", None),
])
def test_accept_language_matches_as_werkzeug_does(header, expected):
    from werkzeug.datastructures import LanguageAccept
    from werkzeug.http import parse_accept_header

    offered = ("cs", "en")
    assert i18n.best_accepted(header, offered) == expected
    assert i18n.best_accepted(header, offered) == expected  # the remembered answer too
    if header:
        assert parse_accept_header(header, LanguageAccept).best_match(offered) == expected


def test_accept_language_answers_are_per_offer_and_capped(monkeypatch):
    monkeypatch.setattr(i18n, "_ACCEPTED", {})
    monkeypatch.setattr(i18n, "ACCEPTED_CAP", 3)
    assert i18n.best_accepted("en", ("cs", "en")) == "en"
    assert i18n.best_accepted("en", ("cs",)) is None  # another app's LANGUAGES: its own answer
    for n in range(10):
        assert i18n.best_accepted(f"x{n}, cs", ("cs", "en")) == "cs"
    assert len(i18n._ACCEPTED) == 3


def test_a_page_follows_accept_language_without_a_cookie(client):
    assert 'lang="cs"' in client.get("/", headers={"Accept-Language": "cs-CZ,cs;q=0.9"}).get_data(as_text=True)
    assert 'lang="en"' in client.get("/", headers={"Accept-Language": "en-US,en;q=0.5"}).get_data(as_text=True)
