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

from portal.extensions import Model


@dataclass(frozen=True)
class Handler:
    name: str
    models: tuple[type, ...]
    export: Callable[[Any], dict[str, Any]]  # user -> sections of the export document
    erase: Callable[[Any], None]  # user -> None; runs inside the erasure transaction
    order: int = 100  # erasure order: lower first; the account itself goes last


_registry: dict[str, Handler] = {}


def register(
    name: str,
    models: tuple[type, ...],
    export: Callable[[Any], dict[str, Any]],
    erase: Callable[[Any], None],
    order: int = 100,
) -> None:
    _registry[name] = Handler(name, models, export, erase, order)


def handlers() -> list[Handler]:
    return sorted(_registry.values(), key=lambda h: (h.order, h.name))


def covered_models() -> set[type]:
    return {model for handler in _registry.values() for model in handler.models}


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


def unhandled_models() -> set[type]:
    return models_referencing_users() - covered_models()


@dataclass(frozen=True)
class Retention:
    kind: str  # what a person reads in the purge report, e.g. "login attempts"
    purge: Callable[[], int]  # deletes what is past its time, returns how many rows went
    setting: str | None = None  # the setting that holds the period, for the privacy page/audit


_retention: dict[str, Retention] = {}


def register_retention(kind: str, purge: Callable[[], int], setting: str | None = None) -> None:
    _retention[kind] = Retention(kind, purge, setting)


def retention_rules() -> list[Retention]:
    return list(_retention.values())
