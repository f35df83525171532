"""Flask-Migrate bound on first use, so Alembic (about 11 MB) stays out of the web processes.

Only ``flask db ...`` and code that migrates (tests, ``flask_migrate.upgrade()``) need it. The
``db`` command group and ``app.extensions["migrate"]`` stand in for the real ones and load
Flask-Migrate the first time either is used; from then on the real objects answer.
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask


class LazyMigrate:
    def __init__(self, **options: Any) -> None:
        self.options = options

    def init_app(self, app: Flask, db: Any, directory: str) -> None:
        def load() -> Any:
            from flask_migrate import Migrate
            from flask_migrate.cli import db as db_group

            if isinstance(app.extensions.get("migrate"), _Pending):
                Migrate(app, db, directory=directory, **self.options)  # puts the real ones in place
            return db_group

        app.extensions["migrate"] = _Pending(load, app)
        app.cli.add_command(_LazyGroup(load))


class _Pending:
    """``app.extensions["migrate"]`` until something reads it: then the real configuration."""

    def __init__(self, load: Any, app: Flask) -> None:
        self._load, self._app = load, app

    def __getattr__(self, name: str) -> Any:
        self._load()
        return getattr(self._app.extensions["migrate"], name)


class _LazyGroup(click.Group):
    """``flask db``: once invoked, the context (options, subcommands, callback) is Flask-Migrate's own."""

    def __init__(self, load: Any) -> None:
        super().__init__(name="db", help="Perform database migrations.")
        self._load = load

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        context: click.Context = self._load().make_context(info_name, args, parent=parent, **extra)
        return context
