"""``flask privacy audit``: the live configuration checked against each promise of the policy.

Each area registers its checks in its ``init_app`` (``register``); ``run`` calls them in order.
A check returns one line: PASS or FAIL, the promise, and the reason in words an operator can act
on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from portal.contributions import collection
from portal.extensions import db


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    reason: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.reason}"


Check = Callable[[], Result]


@dataclass(frozen=True)
class Registered:
    check: Check
    order: int


def _checks(app: Flask | None = None) -> dict[str, Registered]:
    return collection("audit_checks", app, Registered)


def register(app: Flask, check: Check, order: int = 100) -> None:
    """Add ``check`` to the audit; ``order`` places its line (lower first)."""
    _checks(app)[check.__name__] = Registered(check, order)


def checks(app: Flask | None = None) -> list[Check]:
    registered = sorted(_checks(app).items(), key=lambda item: (item[1].order, item[0]))
    return [entry.check for _, entry in registered]


def setting(key: str) -> object:
    return current_app.config.get(key)


def run(app: Flask | None = None) -> list[Result]:
    results = []
    for check in checks(app):
        try:
            results.append(check())
        except Exception as error:  # one broken check must not hide the others
            db.session.rollback()
            results.append(Result(check.__name__.removeprefix("check_"), False, f"could not check: {error}"))
    return results
