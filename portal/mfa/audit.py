"""The staff rule in ``flask privacy audit``: every staff account has a second factor."""

from __future__ import annotations

from flask import Flask

from portal import audit
from portal.audit import Result
from portal.mfa.factors import staff_count, staff_without_second_factor


def check_staff_second_factor() -> Result:
    """Staff accounts reach everyone's data: each must have a passkey or an authenticator app."""
    name = "staff-second-factor"
    missing = staff_without_second_factor()
    if missing:
        shown = ", ".join(missing[:5]) + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
        return Result(name, False, f"{len(missing)} staff account(s) without a passkey or authenticator app: {shown}")
    return Result(name, True, f"all {staff_count()} staff account(s) have a passkey or an authenticator app")


def init_app(app: Flask) -> None:
    audit.register(app, check_staff_second_factor, 95)
