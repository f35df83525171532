"""The privacy policy page: the policy text as written, its blanks filled from the settings.

The text (``texts/policy-2020-04-01.txt``) is a verbatim copy of the spec. It leaves the site's
name and the contact address blank; we fill exactly those places and nothing else, and the
retention section beside it is computed from the same settings the purge uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from flask import current_app
from markupsafe import Markup, escape

from portal import i18n, personal_data
from portal.translate import gettext, ngettext
from portal.translate import gettext as _

POLICY_FILE = Path(__file__).resolve().parent / "texts" / "policy-2020-04-01.txt"
EFFECTIVE_DATE = date(2020, 4, 1)
SITE_BLANKS = (
    # (text before the blank, text after it): the three places the policy left the name out.
    ("track all the visits to", ", which helps"),
    ("(login to", " uses cookies"),
    ("you will not be able to use", " because we use cookies"),
)
CONTACT_LEAD = "via email to:"
EFFECTIVE_LEAD = "Effective date:"


# A translation (``policy-DATE.LANG.txt`` beside the original, no code needed) marks its places
# instead of leaving blanks: the site's name, the end of the contact line, the effective date.
SITE_MARKER, CONTACT_MARKER, DATE_MARKER = "[SITE_NAME]", "[DPO_EMAIL]", "[EFFECTIVE_DATE]"


@dataclass(frozen=True)
class Shape:
    """Where a policy text has its site-name blanks (None: marked) and its two special lines."""

    blanks: tuple[tuple[str, str], ...] | None
    contact_lead: str
    effective_lead: str


ORIGINAL = Shape(SITE_BLANKS, CONTACT_LEAD, EFFECTIVE_LEAD)


@dataclass
class Block:
    kind: str  # "h2" | "p"
    html: Markup
    id: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class PolicyTextError(RuntimeError):
    """The policy file no longer has the blanks this page fills: someone changed the text."""


def text_for(language: str) -> tuple[str, Shape]:
    """The policy in ``language`` where it has been translated, else the original (English)."""
    path = POLICY_FILE.with_name(f"{POLICY_FILE.stem}.{language}.txt")
    if language == "en" or not path.is_file():
        return POLICY_FILE.read_text(encoding="utf-8"), ORIGINAL
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    contact = next((line for line in lines if line.rstrip().endswith(CONTACT_MARKER)), None)
    effective = next((line for line in lines if DATE_MARKER in line), None)
    if contact is None or effective is None or SITE_MARKER not in text:
        raise PolicyTextError(f"{path.name}: needs {SITE_MARKER}, a line ending in {CONTACT_MARKER} and {DATE_MARKER}")
    stamp = i18n.localtime(EFFECTIVE_DATE, "date")
    text = text.replace(CONTACT_MARKER, "").replace(DATE_MARKER, stamp)
    return text, Shape(None, contact.replace(CONTACT_MARKER, "").strip(), effective.split(DATE_MARKER)[0].strip())


def read_text() -> str:
    return POLICY_FILE.read_text(encoding="utf-8")


def fill_site_name(text: str, site_name: str, blanks: tuple[tuple[str, str], ...] = SITE_BLANKS) -> Markup:
    html = escape(text)
    for before, after in blanks:
        gap = escape(before) + escape(after)
        if gap not in html:
            raise PolicyTextError(f"blank not found in the policy text: {before!r}")
        # Markup.replace escapes plain-str arguments; every piece here is escaped already.
        html = html.replace(gap, escape(before) + Markup(" ") + escape(site_name) + escape(after))
    return html


def contact_html() -> Markup:
    address = current_app.config.get("DPO_EMAIL")
    if address:
        return Markup('<a href="mailto:{0}">{0}</a>').format(address)
    # The markup is ours, in the catalogue; only the words around it are translated.
    link = Markup('<a href="/privacy/contact">{0}</a>').format(_("data-protection contact form"))
    # Markup's % escapes the translated words and keeps the link as it is.
    return Markup("<strong>{0}</strong> — {1}").format(
        _("(no data-protection address is configured yet)"),
        escape(_("please use our %(form)s instead.")) % {"form": link},
    )


def _slug(heading: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in heading.lower()).split())


def blocks() -> list[Block]:
    """Headings and paragraphs, in the text's order, as safe HTML."""
    site_name = current_app.config["SITE_NAME"]
    text, translation = text_for(i18n.current_language())
    if translation.blanks is None:
        filled = escape(text).replace(SITE_MARKER, escape(site_name))
    else:
        filled = fill_site_name(text, site_name, translation.blanks)
    result: list[Block] = []
    for chunk in filled.split("\n\n"):
        for line in chunk.strip().split("\n"):
            line = line.strip()  # Markup.split/strip keep the Markup type: the text stays escaped
            if not line:
                continue
            if line.endswith(escape(translation.contact_lead)):
                result.append(Block("p", line + Markup(" ") + contact_html(), extra={"class": "contact"}))
            elif line.startswith(translation.effective_lead):
                stamp = line[len(translation.effective_lead) :].strip()
                result.append(
                    Block(
                        "p",
                        Markup('{0} <time datetime="{1}">{2}</time>').format(
                            translation.effective_lead, EFFECTIVE_DATE.isoformat(), stamp
                        ),
                        extra={"class": "effective"},
                    )
                )
            elif _is_heading(str(line)):
                result.append(Block("h2", line, id=_slug(str(line))))
            else:
                result.append(Block("p", line))
    if not any(b.extra.get("class") == "contact" for b in result):
        raise PolicyTextError("the contact line is missing from the policy text")
    return result


def _is_heading(line: str) -> bool:
    # The text's headings are short lines standing alone, without a full stop.
    return len(line) <= 60 and not line.endswith((".", ":", ",")) and len(line.split()) <= 8


# --- retention: one source of truth with `flask privacy purge` ------------------------------------


@dataclass(frozen=True)
class Period:
    kind: str
    setting: str
    text: str


def humanise(setting: str, value: int) -> str:
    if setting.endswith("_DAYS"):
        return ngettext("%(num)d day", "%(num)d days", value)
    # Everything else the registry names is in seconds (session timeouts).
    if value % 86400 == 0:
        return ngettext("%(num)d day", "%(num)d days", value // 86400)
    if value % 3600 == 0:
        return ngettext("%(num)d hour", "%(num)d hours", value // 3600)
    if value % 60 == 0:
        return ngettext("%(num)d minute", "%(num)d minutes", value // 60)
    return ngettext("%(num)d second", "%(num)d seconds", value)


def retention_periods() -> list[Period]:
    periods: list[Period] = []
    for rule in personal_data.retention_rules():
        if rule.setting is None:
            continue
        value = current_app.config.get(rule.setting)
        if isinstance(value, int) and not isinstance(value, bool):
            # The kind is declared with N_ by its area: translated here, where people read it.
            periods.append(Period(gettext(rule.kind), rule.setting, humanise(rule.setting, value)))
    return periods
