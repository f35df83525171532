"""The words of the banner, in one place: the template shows them and the proof stores them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from portal.consent.registry import CATEGORIES, Registry

POLICY_DIR = Path(__file__).resolve().parent.parent / "privacy" / "texts"
BUTTONS = (("accept_all", "Accept all"), ("reject_all", "Reject all"), ("settings", "Settings"))


@dataclass(frozen=True)
class Banner:
    heading: str
    intro: str
    items: tuple[tuple[str, str], ...]  # (category label + vendors, what it does)
    outro: str

    def as_text(self) -> str:
        lines = [self.heading, self.intro]
        lines += [f"- {label}: {text}" for label, text in self.items]
        lines += [self.outro, " | ".join(label for _, label in BUTTONS)]
        return "\n".join(lines)


def banner(reg: Registry, site_name: str) -> Banner:
    items = []
    for category in reg.categories_in_use():
        label, description = CATEGORIES[category]
        vendors = ", ".join(s.title for s in reg.services if s.category == category)
        items.append((f"{label} ({vendors})", description))
    return Banner(
        heading=f"Cookies on {site_name}",
        intro=(
            "We use necessary cookies to keep you signed in and to protect forms. "
            "With your permission we would also use:"
        ),
        items=tuple(items),
        outro=(
            "Nothing optional is loaded until you choose, and refusing is as easy as accepting. "
            "You can change your mind at any time under “Cookie settings” at the bottom of every page."
        ),
    )


def policy_text() -> tuple[str, str]:
    """The newest policy text the privacy area ships: (file name, text)."""
    files = sorted(POLICY_DIR.glob("policy-*.txt"))
    if not files:
        return ("none", "")
    latest = files[-1]
    return (latest.name, latest.read_text(encoding="utf-8"))
