"""The docs stay true: the settings table matches the declarations, and every link and file path
named in README.md and docs/*.md exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal import config, settings_doc

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Files an operator creates; the docs name them, the repository does not ship them.
OPERATOR_FILES = {"instance/config.py"}

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w/.:~-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|txt|sample|toml|ini|cfg|json|html|js|css))(?![\w/*])")
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")


def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


def test_the_settings_table_is_generated_from_the_declarations():
    current = settings_doc.DOC_PATH.read_text(encoding="utf-8")
    wanted = settings_doc.replace_block(current, settings_doc.render())
    assert current == wanted, f"docs/configuration.md is out of date; run: {settings_doc.COMMAND}"


def test_every_setting_has_a_one_line_meaning_and_is_in_the_table():
    table = settings_doc.render()
    for setting in config.SETTINGS:
        assert setting.meaning.strip() and "\n" not in setting.meaning, setting.key
        assert f"| `{setting.key}` |" in table
    assert len(config.DEFAULTS) == len(config.SETTINGS)  # no key declared twice


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_exists(doc):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        assert path.exists(), f"{doc.name}: link to {target} points at nothing"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{doc.name}: link to {target}: no such heading"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_path_mentioned_exists(doc):
    text = URL.sub("", doc.read_text(encoding="utf-8"))
    for mentioned in PATH.findall(text):
        if mentioned in OPERATOR_FILES:
            continue
        assert (ROOT / mentioned).exists() or (doc.parent / mentioned).exists(), (
            f"{doc.name} mentions {mentioned}, which does not exist"
        )


def test_the_readme_is_short_and_leads_to_the_purge_line_in_one_click():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    assert "docs/operations.md#retention-purge-flask-privacy-purge" in readme
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "flask --app wsgi privacy purge" in operations
