"""Where each area declares the personal data it keeps about a user.

Every blueprint that stores rows about a user registers one handler: which models it covers,
how to export them and how to erase them. Export (GDPR Art. 15/20) and erasure (Art. 17) walk
this registry, and ``unhandled_models`` lets a test prove that no table referencing users was
forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from portal.contributions import collection
from portal.extensions import Model


@dataclass(frozen=True)
class Handler:
    name: str
    models: tuple[type, ...]
    export: Callable[[Any], dict[str, Any]]  # user -> sections of the export document
    erase: Callable[[Any], None]  # user -> None; runs inside the erasure transaction
    order: int = 100  # erasure order: lower first; the account itself goes last


def _handlers(app: Flask | None = None) -> dict[str, Handler]:
    return collection("personal_data", app, Handler)


def register(
    app: Flask,
    name: str,
    models: tuple[type, ...],
    export: Callable[[Any], dict[str, Any]],
    erase: Callable[[Any], None],
    order: int = 100,
) -> None:
    _handlers(app)[name] = Handler(name, models, export, erase, order)


def unregister(app: Flask, name: str) -> None:
    _handlers(app).pop(name, None)


def handlers(app: Flask | None = None) -> list[Handler]:
    return sorted(_handlers(app).values(), key=lambda h: (h.order, h.name))


def covered_models(app: Flask | None = None) -> set[type]:
    return {model for handler in _handlers(app).values() for model in handler.models}


def models_referencing_users() -> set[type]:
    """Every mapped class with a column that is, or points to, ``users.id``."""
    found: set[type] = set()
    for mapper in Model.registry.mappers:
        table = getattr(mapper.class_, "__table__", None)
        if table is None:
            continue
        if table.name == "users":
            found.add(mapper.class_)
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == "users":
                found.add(mapper.class_)
    return found


def unhandled_models(app: Flask | None = None) -> set[type]:
    return models_referencing_users() - covered_models(app)


@dataclass(frozen=True)
class Retention:
    kind: str  # what a person reads in the purge report, e.g. "login attempts"
    purge: Callable[[], int]  # deletes what is past its time, returns how many rows went
    setting: str | None = None  # the setting that holds the period, for the privacy page/audit


def _retention(app: Flask | None = None) -> dict[str, Retention]:
    return collection("retention", app, Retention)


def register_retention(app: Flask, kind: str, purge: Callable[[], int], setting: str | None = None) -> None:
    _retention(app)[kind] = Retention(kind, purge, setting)


def unregister_retention(app: Flask, kind: str) -> None:
    _retention(app).pop(kind, None)


def retention_rules(app: Flask | None = None) -> list[Retention]:
    return list(_retention(app).values())
