"""``flask mail ...``: a delivery worker of its own, the queue's figures, and re-queueing."""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

import click
from flask import Blueprint, current_app

from portal.appctx import current_app_object
from portal.extensions import db
from portal.mail import status as queue
from portal.mail.models import FAILED, UNCERTAIN
from portal.mail.worker import Worker, deliver_due

cli = Blueprint("mail_cli", __name__, cli_group="mail")


@cli.cli.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def deliver(once: bool) -> None:
    """Run a delivery worker (the web processes deliver too; any number of both may run)."""
    app = current_app_object()
    if once:
        outcome = deliver_due(app)
        click.echo(f"{outcome.sent} sent, {outcome.retrying} to retry later, {outcome.failed} failed, "
                   f"{outcome.uncertain} uncertain, {outcome.skipped} skipped.")
        if outcome.failed or outcome.uncertain:
            raise SystemExit(1)
        return
    worker = Worker(app)

    def stop(signum: int, frame: FrameType | None) -> None:
        click.echo("Stopping after the message in flight...")
        worker.shutdown(timeout=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo("Delivering mail; SIGTERM or Ctrl-C stops after the message in flight.")
    worker.pid = None
    worker.stop.clear()
    worker.loop()


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "-"


@cli.cli.command("status")
def status() -> None:
    """Queue depth, oldest waiting, retrying, failed and uncertain — per kind of message."""
    figures = queue.figures()
    click.echo(f"{'kind':<24} {'waiting':>8} {'retrying':>9} {'sent':>8} {'failed':>7} {'uncertain':>10}  "
               "oldest waiting")
    for k in figures.kinds:
        click.echo(f"{k.kind:<24} {k.waiting:>8} {k.retrying:>9} {k.sent:>8} {k.failed:>7} {k.uncertain:>10}  "
                   f"{_when(k.oldest_waiting)}")
    click.echo(f"{'total':<24} {figures.total('waiting'):>8} {figures.total('retrying'):>9} "
               f"{figures.total('sent'):>8} {figures.total('failed'):>7} {figures.total('uncertain'):>10}  "
               f"{_when(figures.oldest_waiting)}")
    for row in queue.problems():
        click.echo(f"{row.status}: #{row.id} {row.kind} to {row.to_addr or 'user ' + str(row.user_id)} "
                   f"Message-ID {row.message_id or '-'} (attempts {row.attempts}) {row.last_error or ''}".rstrip())
    db.session.rollback()


@cli.cli.command("retry")
@click.option("--failed", "failed", is_flag=True, help="Re-queue failed messages.")
@click.option("--uncertain", "uncertain", is_flag=True,
              help="Re-queue uncertain messages (they may have arrived: the recipient may get a second copy).")
def retry(failed: bool, uncertain: bool) -> None:
    """Re-queue failed (--failed) and/or uncertain (--uncertain) messages."""
    statuses = tuple(s for s, wanted in ((FAILED, failed), (UNCERTAIN, uncertain)) if wanted)
    if not statuses:
        raise click.UsageError("Say what to re-queue: --failed, --uncertain, or both.")
    count = queue.requeue(statuses)
    db.session.commit()
    click.echo(f"{count} message(s) re-queued ({', '.join(statuses)}).")
    if count:
        from portal.mail.worker import wake

        wake(current_app_object())
        time.sleep(0)


# sysexits.h EX_TEMPFAIL: Postfix's pipe(8), Exim and fetchmail keep the message and retry later.
EX_TEMPFAIL = 75


@cli.cli.command("inbound")
@click.option("--recipient", metavar="ADDRESS",
              help="The envelope recipient, from the MTA (Postfix pipe: ${original_recipient}).")
def inbound_command(recipient: str | None) -> None:
    """Read one RFC 5322 message on stdin: a bounce (RFC 3464), a complaint (RFC 5965) or mail to
    the List-Unsubscribe address. Anything else is ignored (exit 0); exit 75 asks the MTA to retry."""
    from sqlalchemy.exc import SQLAlchemyError

    from portal.mail import inbound

    raw = sys.stdin.buffer.read(inbound.MAX_MESSAGE_BYTES + 1)
    if not raw.strip():
        raise click.ClickException("No message on standard input: pipe one RFC 5322 message into this command.")
    if len(raw) > inbound.MAX_MESSAGE_BYTES:
        # The report parts come first; the returned original at the end is what gets cut.
        click.echo(f"Message longer than {inbound.MAX_MESSAGE_BYTES} bytes: reading the first part only.", err=True)
        raw = raw[: inbound.MAX_MESSAGE_BYTES]
    try:
        result = inbound.process(raw, recipient)
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        click.echo(f"The database could not record this message ({type(error).__name__}); "
                   "exit 75 so the mail system retries it later.", err=True)
        raise SystemExit(EX_TEMPFAIL) from None
    click.echo(f"{result.action}: {result.summary}")


@cli.cli.command("dkim-record")
def dkim_record() -> None:
    """Print the DNS TXT record that publishes the DKIM public key (from DKIM_* settings)."""
    from portal.mail.dkim_signing import public_record, signer_for

    signer = signer_for(current_app.config)
    if signer is None:
        raise click.ClickException("Set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE first.")
    record = public_record(signer.key_pem).decode("ascii")
    # TXT strings are at most 255 characters each; DNS servers join them back together.
    chunks = " ".join(f'"{record[i:i + 255]}"' for i in range(0, len(record), 255))
    click.echo(f"{signer.selector.decode()}._domainkey.{signer.domain.decode()}. IN TXT ( {chunks} )")
