"""``flask mfa rekey``: re-encrypt every authenticator secret under the current SECRET_KEY."""

from __future__ import annotations

import click
from flask import Blueprint

from portal.mfa import totp

cli = Blueprint("mfa_cli", __name__, cli_group="mfa")


@cli.cli.command("rekey")
def rekey() -> None:
    """Re-encrypt secrets still under a key of MFA_OLD_SECRET_KEYS; then that key can go."""
    count = totp.rekey_all()
    click.echo(f"re-encrypted {count} authenticator secret(s) under the current key")
