"""What each area sends: its kinds of message, declared in its ``init_app``, collected here.

A kind with stored bytes (account mail, notices) needs nothing but a name. A kind whose copies are
built at send time (the newsletter: the subscriber's current address, a personal unsubscribe
link) gives a ``prepare`` function and a ``guard``, an SQL condition checked in the same
statement that marks the copy "sending", so an unsubscription a millisecond earlier still counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy.sql.elements import ColumnElement

from portal.contributions import collection


@dataclass(frozen=True)
class Prepared:
    """A copy ready for the wire. ``key`` is bound into the kind's guard (e.g. the address key)."""

    recipient: str
    raw: bytes
    message_id: str
    smtputf8: bool = False
    key: str = ""


@dataclass(frozen=True)
class Skip:
    """A copy that must not go out, and why (recorded as the skipped row's last_error)."""

    reason: str


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # what an operator reads in `flask mail status`
    # rows (id, user_id, issue_id, ...) -> {id: Prepared}; ids it leaves out are skipped
    prepare: Callable[[Sequence[Any]], dict[int, Prepared]] | None = None
    guard: ColumnElement[bool] | None = None
    bulk: bool = False  # marketing mail: never to a suppressed address


def _kinds(app: Flask | None = None) -> dict[str, Kind]:
    return collection("mail_kinds", app, Kind)


def register(app: Flask, kind: Kind) -> None:
    kinds = _kinds(app)
    existing = kinds.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"mail kind {kind.name!r} is declared twice")
    kinds[kind.name] = kind


def register_labels(app: Flask, labels: dict[str, str]) -> None:
    """Kinds with stored bytes: a name and what an operator reads for it."""
    for name, label in labels.items():
        register(app, Kind(name, label))


def get(name: str, app: Flask | None = None) -> Kind | None:
    return _kinds(app).get(name)


def all_kinds(app: Flask | None = None) -> list[Kind]:
    return sorted(_kinds(app).values(), key=lambda k: k.name)


def guards(app: Flask | None = None) -> dict[str, ColumnElement[bool]]:
    return {k.name: k.guard for k in _kinds(app).values() if k.guard is not None}
