"""``flask newsletter ...``: create, preview, test-send, send, status, suppress."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import Blueprint
from sqlalchemy import update

from portal.accounts.models import User
from portal.appctx import current_app_object
from portal.extensions import db
from portal.links import external_url
from portal.mail import status as queue
from portal.mail.outbox import enqueue_composed
from portal.mail.worker import deliver_due
from portal.newsletter import issues, render
from portal.newsletter.models import FAILED, STATUSES, UNCERTAIN, Delivery, Issue
from portal.newsletter.sender import Paused, Sender, SendOptions
from portal.newsletter.subscriptions import SubscriptionError, suppress, unsubscribe_token

cli = Blueprint("newsletter_cli", __name__, cli_group="newsletter")


def _issue(issue_id: int) -> Issue:
    try:
        return issues.get_issue(issue_id)
    except issues.IssueError as error:
        raise click.ClickException(str(error)) from None


def _by_language(values: tuple[str, ...], what: str) -> dict[str | None, str]:
    """``TEXT`` is the default language's, ``LANG=TEXT`` another offered language's."""
    offered = current_app_object().config["LANGUAGES"]
    found: dict[str | None, str] = {}
    for value in values:
        prefix, sep, rest = value.partition("=")
        language = prefix if sep and prefix in offered else None
        text = rest if language is not None else value
        if language in found:
            raise click.ClickException(f"{what} given twice for {language or 'the default language'}.")
        found[language] = text
    if None not in found:
        raise click.ClickException(f"{what}: the default language's is required (without a LANG= prefix).")
    return found


def _read_body(path_text: str) -> str:
    path = Path(path_text)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"Cannot read {path}: {error}") from None


@cli.cli.command("create")
@click.option("--subject", "subjects", required=True, multiple=True,
              help="The subject line; LANG=TEXT gives it in another language of LANGUAGES (repeatable).")
@click.option("--body-file", "body_files", required=True, multiple=True,
              help="The body, in Markdown; LANG=FILE gives it in another language (repeatable).")
def create(subjects: tuple[str, ...], body_files: tuple[str, ...]) -> None:
    """Create an issue; prints its id alone on the last line.

    Each subscriber gets the issue in their language, or in DEFAULT_LANGUAGE where it has none:
    --subject "News" --body-file news.md --subject cs=Novinky --body-file cs=novinky.md
    """
    subject_of, file_of = _by_language(subjects, "--subject"), _by_language(body_files, "--body-file")
    bodies = {language: _read_body(path) for language, path in file_of.items()}
    default_subject, body = subject_of.pop(None), bodies.pop(None)
    translations = {language: (subject_of.get(language, default_subject), text)
                    for language, text in bodies.items() if language is not None}
    unmatched = set(subject_of) - set(translations)
    if unmatched:
        raise click.ClickException(f"--subject for {', '.join(sorted(map(str, unmatched)))} has no --body-file.")
    try:
        issue = issues.create_issue(default_subject, body, translations)
    except issues.IssueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created newsletter issue {issue.id!s}: {issue.subject}")
    click.echo(str(issue.id))


@cli.cli.command("preview")
@click.argument("issue_id", type=int)
@click.option("--part", type=click.Choice(["both", "text", "html"]), default="both", show_default=True)
def preview(issue_id: int, part: str) -> None:
    """Print the plain-text and HTML parts as a subscriber receives them."""
    issue = _issue(issue_id)
    rendered = render.render_issue(issue.subject, issue.body_markdown)
    url = external_url("newsletter.unsubscribe_page", token="<personal-token>")  # noqa: S106 - a placeholder
    click.echo(f"Subject: {issue.subject}")
    if part in ("both", "text"):
        click.echo("----- text/plain -----")
        click.echo(rendered.text.replace(render.UNSUBSCRIBE_PLACEHOLDER, url))
    if part in ("both", "html"):
        click.echo("----- text/html -----")
        click.echo(rendered.html.replace(render.UNSUBSCRIBE_PLACEHOLDER, url))


@cli.cli.command("test-send")
@click.argument("issue_id", type=int)
@click.argument("email")
def test_send(issue_id: int, email: str) -> None:
    """Send ISSUE_ID to EMAIL only; it does not start the issue and does not count for the cap."""
    from portal.addresses import AddressError, lookup_key, normalise_email

    try:
        address = normalise_email(email)
    except AddressError as error:
        raise click.ClickException(str(error)) from None
    issue = _issue(issue_id)
    rendered = render.render_issue(f"[TEST] {issue.subject}", issue.body_markdown)
    user = db.session.query(User).filter_by(email_key=lookup_key(address)).one_or_none()
    # A real link for an account holder; otherwise the preferences page (no token without a user).
    url = external_url("newsletter.preferences")
    if user is not None:
        url = external_url("newsletter.unsubscribe_page", token=unsubscribe_token(user.id, user.email_key))
    row = enqueue_composed(render.build_message(rendered, address, url), kind="newsletter.test")
    db.session.commit()
    row_id = row.id
    db.session.rollback()  # end this session's read snapshot: the engine's commits must show
    deliver_due(current_app_object())
    db.session.rollback()
    stored = db.session.get(Delivery, row_id, populate_existing=True)
    if stored is None or stored.status != "sent":
        state = stored.status if stored is not None else "gone"
        detail = f" ({stored.last_error})" if stored is not None and stored.last_error else ""
        raise click.ClickException(f"The test copy is {state}{detail}; `flask mail status` shows the queue.")
    click.echo(f"Test copy of issue {issue_id} sent to {address} (the monthly cap is not affected).")


@cli.cli.command("send")
@click.argument("issue_id", type=int)
@click.option("--second-this-month", is_flag=True, help="Allow a second issue this calendar month.")
@click.option("--reason", help="Why a second issue this month (recorded).")
@click.option("--rate", type=click.FloatRange(min=0.01, max=100000), help="Messages per second at most.")
@click.option("--resend-uncertain", is_flag=True, help="Also resend deliveries whose outcome is uncertain.")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--max-failures", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Consecutive connection failures before pausing.")
@click.option("--no-wait", is_flag=True,
              help="Return once nothing is due now; copies deferred by temporary failures are left to the workers.")
@click.option("--failure-delay", type=click.FloatRange(0, 60), default=1.0, show_default=True, hidden=True)
def send(issue_id: int, second_this_month: bool, reason: str | None, rate: float | None, resend_uncertain: bool,
         batch_size: int, max_failures: int, no_wait: bool, failure_delay: float) -> None:
    """Start (within the monthly cap) and send ISSUE_ID; safe to run again after a crash.

    Exit status: 0 when no copy failed (uncertain ones are reported: they may have arrived), 1 when
    some failed or the run paused, 75 with --no-wait while copies are still being retried."""
    if reason and not second_this_month:
        raise click.UsageError("--reason goes with --second-this-month.")
    _issue(issue_id)
    try:
        start = issues.start_issue(issue_id, second_this_month, reason)
    except (issues.CapError, issues.IssueError) as error:
        raise click.ClickException(str(error)) from None
    if start.started_now:
        click.echo(f"Issue {issue_id} started: slot {start.slot} of {start.month}, {start.recipients} recipients.")
    else:
        click.echo(f"Issue {issue_id} started earlier ({start.month}); resuming.")
    counts = issues.status_counts(issue_id)
    total = sum(counts.values())
    already = sum(counts.get(s, 0) for s in ("sent", "failed", "skipped", "uncertain"))
    options = SendOptions(rate=rate, resend_uncertain=resend_uncertain, batch_size=batch_size,
                          max_failures=max_failures, failure_delay=failure_delay, wait=not no_wait)
    if resend_uncertain:
        already -= counts.get(UNCERTAIN, 0)
    started = time.monotonic()
    done = {"n": 0}

    def show(_item: object) -> str:
        elapsed = max(time.monotonic() - started, 1e-6)
        return f"{already + done['n']}/{total} · {done['n'] / elapsed:.1f} msg/s"

    paused: Paused | None = None
    with click.progressbar(length=max(total, 1), label="Sending", show_eta=True, show_pos=False,
                           item_show_func=show) as bar:
        bar.update(already)

        def progress(outcome: str) -> None:
            if outcome != "pending":  # a deferred copy is not done yet
                done["n"] += 1
                bar.update(1, outcome)

        sender = Sender(issue_id, options, progress)
        try:
            outcome = sender.run()
        except Paused as error:
            paused, outcome = error, sender.outcome
    elapsed = outcome.elapsed
    counts = issues.status_counts(issue_id)
    click.echo(
        f"This run: {outcome.sent} sent, {outcome.skipped} skipped (unsubscribed meanwhile), "
        f"{outcome.retrying} deferred by temporary failures, {outcome.failed} failed, "
        f"{outcome.uncertain} uncertain in {elapsed:.1f} s ({outcome.sent / max(elapsed, 1e-6):.1f} msg/s)."
    )
    click.echo("Issue totals: " + _counts_line(counts))
    if counts.get(UNCERTAIN):
        click.echo(f"{counts[UNCERTAIN]} uncertain deliveries were not resent; see `flask newsletter status "
                   f"{issue_id}`, and use --resend-uncertain to send them again.")
    if paused is not None:
        raise click.ClickException(str(paused))
    if counts.get(FAILED):
        raise click.ClickException(f"{counts[FAILED]} copies failed: `flask newsletter status {issue_id}` lists "
                                   f"them, `flask newsletter retry {issue_id}` re-queues them.")
    if counts.get("claimed") or counts.get("sending"):
        click.echo("Another sender still holds part of this issue; it finishes them (or run again to check).")
    if no_wait and counts.get("pending"):
        click.echo(f"{counts['pending']} copies wait for a retry after temporary failures; the delivery workers "
                   f"finish them (`flask newsletter status {issue_id}`).")
        raise SystemExit(75)


@cli.cli.command("retry")
@click.argument("issue_id", type=int)
def retry(issue_id: int) -> None:
    """Re-queue the failed copies of ISSUE_ID (the same issue: the monthly cap is untouched)."""
    issue = _issue(issue_id)
    if issue.started_at is None:
        raise click.ClickException(f"Issue {issue_id} has not been started.")
    count = queue.requeue((FAILED,), issue_id=issue_id)
    if count:
        db.session.execute(update(Issue).where(Issue.id == issue_id).values(finished_at=None))
    db.session.commit()
    click.echo(f"{count} failed copies of issue {issue_id} re-queued; the delivery workers send them "
               f"(or run `flask newsletter send {issue_id}`).")


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{s} {counts.get(s, 0)}" for s in STATUSES) + f" (total {sum(counts.values())})"


# The rates at which Amazon SES puts an account under review (its documented thresholds); other
# relays and the big mailbox providers act at similar levels.
BOUNCE_RATE_LIMIT = 0.05
COMPLAINT_RATE_LIMIT = 0.001


def _show_rates(issue_id: int, counts: dict[str, int]) -> None:
    from portal.mail.feedback import issue_rates

    rates = issue_rates(issue_id)
    sent = counts.get("sent", 0)
    bounced = rates.get("bounce", 0)
    complained = rates.get("complaint", 0)
    for label, value, limit in (("bounces", bounced, BOUNCE_RATE_LIMIT),
                                ("complaints", complained, COMPLAINT_RATE_LIMIT)):
        rate = value / sent if sent else 0.0
        click.echo(f"  {label:<10} {value} ({rate * 100:.2f} % of {sent} sent)")
        if sent and rate > limit:
            click.echo(f"WARNING: the {label[:-1]} rate {rate * 100:.2f} % is above {limit * 100:g} %, where Amazon "
                       "SES reviews (and may pause) a sending account. Clean the list before the next issue.")
    if rates.get("soft-bounce"):
        click.echo(f"  {'soft':<10} {rates['soft-bounce']} temporary bounce(s) reported")


@cli.cli.command("status")
@click.argument("issue_id", type=int)
def status(issue_id: int) -> None:
    """Counts per status, and the recipients that failed or are uncertain."""
    issue = _issue(issue_id)
    click.echo(f"Issue {issue.id}: {issue.subject}")
    if issue.started_at is None:
        click.echo("Not started.")
        return
    click.echo(f"Started {issue.started_at.isoformat()} (month {issue.started_month}, slot {issue.cap_slot})"
               + (f"; reason for a second issue: {issue.second_reason}" if issue.second_reason else ""))
    click.echo(f"Finished {issue.finished_at.isoformat()}" if issue.finished_at else "Not finished.")
    counts = issues.status_counts(issue_id)
    for name in STATUSES:
        click.echo(f"  {name:<10} {counts.get(name, 0)}")
    click.echo(f"  {'total':<10} {sum(counts.values())}")
    retrying, next_at = issues.retrying(issue_id)
    if retrying:
        click.echo(f"  of the pending, {retrying} are retrying after temporary failures; next attempt "
                   f"{next_at.isoformat(timespec='seconds') if next_at else 'soon'}")
    _show_rates(issue_id, counts)
    for state, email, attempts, error, message_id in issues.problem_deliveries(issue_id, (FAILED, UNCERTAIN)):
        click.echo(f"{state}: {email} Message-ID {message_id or '-'} (attempts {attempts}) {error or ''}".rstrip())


@cli.cli.command("suppress")
@click.argument("email", required=False)
@click.option("--reason", type=click.Choice(["bounce", "complaint", "admin"]), required=True,
              help="admin: the person asked staff by other means (a letter, a phone call).")
@click.option("--from-file", "from_file", type=click.Path(dir_okay=False, path_type=Path),
              help="One address per line, or a relay's CSV export with an email/address column.")
def suppress_command(email: str | None, reason: str, from_file: Path | None) -> None:
    """Record a hard bounce, complaint or staff-handled request for EMAIL (or every address in
    --from-file) as a suppression: no newsletter, no bulk mail."""
    if (email is None) == (from_file is None):
        raise click.UsageError("Give one EMAIL or --from-file PATH.")
    if from_file is not None:
        from portal.newsletter.suppress_file import FileError, import_file

        try:
            result = import_file(from_file, reason)
        except FileError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"{result.added} address(es) suppressed, {result.already} already on the list.")
        if result.invalid:
            shown = ", ".join(str(n) for n in result.invalid[:10]) + (" ..." if len(result.invalid) > 10 else "")
            click.echo(f"{len(result.invalid)} line(s) without a usable address skipped: line {shown}", err=True)
            if not result.added and not result.already:
                raise SystemExit(1)
        return
    assert email is not None
    try:
        user = suppress(email, reason)
    except SubscriptionError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{user.email} is unsubscribed and suppressed ({reason}).")
