"""Who may see the console: staff only, and only once every gate (e.g. a second factor) is passed.

Non-staff get 404, not 403: that the console exists is nobody else's business. Other areas add
gates with ``add_gate(app, gate)``; a gate returns a response (say, a redirect to enrolment) when
the staff member must do something first, or None.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app
from flask.typing import ResponseReturnValue
from flask_login import current_user

Gate = Callable[[Any], ResponseReturnValue | None]
F = TypeVar("F", bound=Callable[..., ResponseReturnValue])

GATES_KEY = "portal.staff.gates"


def add_gate(app: Flask, gate: Gate) -> None:
    app.extensions.setdefault(GATES_KEY, []).append(gate)


def is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_admin", False))


def staff_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        user = current_user
        if not is_staff(user):
            abort(404)
        for gate in current_app.extensions.get(GATES_KEY, []):
            answer = gate(user)
            if answer is not None:
                return answer
        return view(*args, **kwargs)

    return cast(F, wrapped)
