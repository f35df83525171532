"""What the areas contribute, collected per application on ``app.extensions``.

Each area's ``init_app`` declares its personal-data handlers, retention rules, audit checks, mail
kinds and page fragments through the functions of the module that owns that kind of thing
(``portal.personal_data``, ``portal.audit``, ``portal.mail.kinds``, ``portal.templating``); those
modules keep them here, one named collection per kind. Two applications in one process (the test
suite makes hundreds) never see each other's registrations, and adding an area touches one package.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from flask import Flask, current_app

T = TypeVar("T")

KEY = "portal.contributions"


def collection(name: str, app: Flask | None = None, of: type[T] | None = None) -> dict[str, T]:
    """The named collection of ``app`` (the current app by default), created empty on first use.

    ``of`` only tells the type checker what the collection holds.
    """
    target = app if app is not None else current_app
    everything = cast(dict[str, dict[str, Any]], target.extensions.setdefault(KEY, {}))
    return cast(dict[str, T], everything.setdefault(name, {}))
