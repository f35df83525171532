"""``flask users ...``: account administration from the terminal."""

from __future__ import annotations

import sys

import click
from flask import Blueprint

from portal.accounts import service
from portal.accounts.service import AccountError

cli = Blueprint("users", __name__, cli_group="users")


@cli.cli.command("create-admin")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def create_admin(email: str, password_stdin: bool) -> None:
    """Make EMAIL an administrator, creating a confirmed account if there is none."""
    existing = service.find_user(email)
    password = ""
    if existing is None:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password for the new account", hide_input=True, confirmation_prompt=True)
    try:
        user = service.create_admin(email, password)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{user.email} is an administrator.")
