"""``flask privacy ...``: retention purge, the policy audit, and the inquiry desk in a terminal."""

from __future__ import annotations

import click
from flask import Blueprint

from portal import audit as audit_module
from portal import personal_data
from portal.db import utcnow
from portal.extensions import db
from portal.privacy import inquiries as inquiry_service
from portal.staff import health
from portal.templating import localtime

cli = Blueprint("privacy_cli", __name__, cli_group="privacy")


@cli.cli.command("purge")
def purge() -> None:
    """Delete everything past its retention period; prints a count per kind. Safe to repeat."""
    failed = 0
    started = utcnow()
    counts: dict[str, int | None] = {}
    for rule in personal_data.retention_rules():
        try:
            count = rule.purge()
        except Exception as error:  # keep purging the other kinds; report and exit non-zero
            db.session.rollback()
            failed += 1
            counts[rule.kind] = None
            click.echo(f"{rule.kind}: FAILED ({type(error).__name__}: {error})", err=True)
            continue
        counts[rule.kind] = count
        setting = f" (older than {rule.setting})" if rule.setting else ""
        click.echo(f"{rule.kind}: {count} deleted{setting}")
    # The console's retention page shows the last runs and what each removed.
    health.record_purge(started, counts)
    if failed:
        raise click.exceptions.Exit(1)


@cli.cli.command("audit")
def audit() -> None:
    """Check the live configuration against the policy; one PASS/FAIL line each, exit 1 on a FAIL."""
    results = audit_module.run()
    for result in results:
        click.echo(result.line())
    failures = sum(1 for r in results if not r.ok)
    click.echo(f"{len(results) - failures} passed, {failures} failed")
    if failures:
        raise click.exceptions.Exit(1)


@cli.cli.command("inquiries")
@click.option("--all", "show_all", is_flag=True, help="Also list recently answered inquiries.")
def list_inquiries(show_all: bool) -> None:
    """Open data-protection inquiries, the nearest deadline first."""
    rows = inquiry_service.open_inquiries()
    if not rows:
        click.echo("No open inquiries.")
    for i in rows:
        late = "  OVERDUE" if i.due_at < utcnow() else ""
        click.echo(f"{i.reference}  due {localtime(i.due_at)}  {i.topic:<13}  {i.email or '(redacted)'}{late}")
    if show_all:
        for i in inquiry_service.recent_answered():
            click.echo(f"{i.reference}  answered {localtime(i.answered_at)}  {i.topic:<13}  {i.email or '(redacted)'}")


@cli.cli.command("answer")
@click.argument("reference")
def answer(reference: str) -> None:
    """Mark the inquiry REFERENCE as answered."""
    try:
        inquiry = inquiry_service.mark_answered(reference)
    except inquiry_service.InquiryError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{inquiry.reference} is marked answered.")
