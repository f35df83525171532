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

from portal import personal_data

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


@dataclass
class Block:
    kind: str  # "h2" | "p"
    html: Markup
    id: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class PolicyTextError(RuntimeError):
    """The policy file no longer has the blanks this page fills: someone changed the text."""


def read_text() -> str:
    return POLICY_FILE.read_text(encoding="utf-8")


def fill_site_name(text: str, site_name: str) -> Markup:
    html = escape(text)
    for before, after in SITE_BLANKS:
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
    return Markup(
        '<strong>(no data-protection address is configured yet)</strong> — please use our '
        '<a href="/privacy/contact">data-protection contact form</a> instead.'
    )


def _slug(heading: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in heading.lower()).split())


def blocks() -> list[Block]:
    """Headings and paragraphs, in the text's order, as safe HTML."""
    site_name = current_app.config["SITE_NAME"]
    filled = fill_site_name(read_text(), site_name)
    result: list[Block] = []
    for chunk in filled.split("\n\n"):
        for line in chunk.strip().split("\n"):
            line = line.strip()  # Markup.split/strip keep the Markup type: the text stays escaped
            if not line:
                continue
            if line.endswith(escape(CONTACT_LEAD)):
                result.append(Block("p", line + Markup(" ") + contact_html(), extra={"class": "contact"}))
            elif line.startswith(EFFECTIVE_LEAD):
                stamp = line[len(EFFECTIVE_LEAD) :].strip()
                result.append(
                    Block(
                        "p",
                        Markup('{0} <time datetime="{1}">{2}</time>').format(
                            EFFECTIVE_LEAD, EFFECTIVE_DATE.isoformat(), stamp
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
        return f"{value} day{'s' if value != 1 else ''}"
    # Everything else the registry names is in seconds (session timeouts).
    if value % 86400 == 0:
        days = value // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    if value % 3600 == 0:
        hours = value // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if value % 60 == 0:
        minutes = value // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{value} seconds"


def retention_periods() -> list[Period]:
    periods: list[Period] = []
    for rule in personal_data.retention_rules():
        if rule.setting is None:
            continue
        value = current_app.config.get(rule.setting)
        if isinstance(value, int) and not isinstance(value, bool):
            periods.append(Period(rule.kind, rule.setting, humanise(rule.setting, value)))
    return periods
