"""The words of the banner, in one place: the template shows them and the proof stores them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portal.consent.registry import CATEGORIES, Registry
from portal.translate import gettext as _
from portal.translate import lazy_gettext as _l

POLICY_DIR = Path(__file__).resolve().parent.parent / "privacy" / "texts"
BUTTONS: tuple[tuple[str, Any], ...] = (
    ("accept_all", _l("Accept all")), ("reject_all", _l("Reject all")), ("settings", _l("Settings")),
)


@dataclass(frozen=True)
class Banner:
    heading: str
    intro: str
    items: tuple[tuple[str, str], ...]  # (category label + vendors, what it does)
    outro: str

    def as_text(self) -> str:
        lines = [self.heading, self.intro]
        lines += [f"- {label}: {text}" for label, text in self.items]
        lines += [self.outro, " | ".join(str(label) for _, label in BUTTONS)]
        return "\n".join(lines)


def banner(reg: Registry, site_name: str) -> Banner:
    items = []
    for category in reg.categories_in_use():
        label, description = CATEGORIES[category]
        vendors = ", ".join(s.title for s in reg.services if s.category == category)
        items.append((f"{label} ({vendors})", str(description)))
    # Read in the page's language: the snapshot of what was shown is kept per language.
    return Banner(
        heading=_("Cookies on %(site)s", site=site_name),
        intro=_(
            "We use necessary cookies to keep you signed in and to protect forms. "
            "With your permission we would also use:"
        ),
        items=tuple(items),
        outro=_(
            "Nothing optional is loaded until you choose, and refusing is as easy as accepting. "
            "You can change your mind at any time under “Cookie settings” at the bottom of every page."
        ),
    )


def policy_text(language: str = "en") -> tuple[str, str]:
    """The newest policy text the privacy area ships in ``language`` (English where it has no
    translation): (file name, text). English is ``policy-DATE.txt``, others ``policy-DATE.LANG.txt``."""
    files = sorted(f for f in POLICY_DIR.glob("policy-*.txt") if f.name.count(".") == 1)
    if not files:
        return ("none", "")
    latest = files[-1]
    translated = latest.with_name(f"{latest.stem}.{language}.txt")
    chosen = translated if language != "en" and translated.is_file() else latest
    return (chosen.name, chosen.read_text(encoding="utf-8"))
