"""An issue in several languages: the default language's text on ``Issue``, others in
``IssueText``; each subscriber gets their own language, or the default where the issue has none."""

from __future__ import annotations

from collections.abc import Mapping

from flask import current_app
from sqlalchemy import delete, select

from portal.extensions import db
from portal.newsletter.models import Issue, IssueText


def unknown_languages(texts: Mapping[str, object]) -> list[str]:
    """Languages of ``texts`` that are not among the portal's other languages (the default's
    text is the issue's own)."""
    offered = current_app.config["LANGUAGES"]
    return [code for code in texts if code not in offered or code == current_app.config["DEFAULT_LANGUAGE"]]


def add_texts(issue: Issue, texts: Mapping[str, tuple[str, str]]) -> None:
    """Add (or replace) the issue's subject and body in other languages; the caller commits."""
    for language, (subject, body) in texts.items():
        existing = db.session.scalar(
            select(IssueText).where(IssueText.issue_id == issue.id, IssueText.language == language)
        )
        if existing is None:
            db.session.add(IssueText(issue_id=issue.id, language=language, subject=subject, body_markdown=body))
        else:
            existing.subject, existing.body_markdown = subject, body


def texts_of(issue: Issue) -> dict[str, tuple[str, str]]:
    """The issue's other languages: language -> (subject, Markdown body)."""
    rows = db.session.scalars(select(IssueText).where(IssueText.issue_id == issue.id))
    return {row.language: (row.subject, row.body_markdown) for row in rows}


def remove_texts(issue: Issue, codes: list[str]) -> None:
    """Drop the issue's text in ``codes`` (its readers then get the default's); the caller commits."""
    if codes:
        db.session.execute(delete(IssueText).where(IssueText.issue_id == issue.id, IssueText.language.in_(codes)))


def text_for(issue: Issue, language: str | None) -> tuple[str, str]:
    """(subject, Markdown body) in ``language``, else in the default language."""
    if language and language != current_app.config["DEFAULT_LANGUAGE"]:
        found = db.session.scalar(
            select(IssueText).where(IssueText.issue_id == issue.id, IssueText.language == language)
        )
        if found is not None:
            return found.subject, found.body_markdown
    return issue.subject, issue.body_markdown


def languages_of(issue: Issue) -> list[str]:
    extra = db.session.scalars(select(IssueText.language).where(IssueText.issue_id == issue.id)).all()
    return [current_app.config["DEFAULT_LANGUAGE"], *sorted(extra)]
