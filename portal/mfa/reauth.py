"""Re-authentication for sensitive actions: one mechanism, ``fresh_auth_required``.

A session is *fresh* when a password, code or passkey was checked in it within REAUTH_SECONDS
(signing in counts: ``start_session`` stamps the session). A stale session is sent to
``/account/confirm?next=…``, which accepts any of the three and stamps it again.

Forms that carry their own password field (change password, change address, export, erasure)
name it with ``own_check``: a request with that field goes through, because the view checks
that password itself, through the accounts throttle; it is the re-authentication.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from portal.accounts import sessions

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


def is_fresh() -> bool:
    return sessions.recently_reauthenticated(sessions.current_session(), current_app.config["REAUTH_SECONDS"])


def mark_fresh() -> None:
    record = sessions.current_session()
    if record is not None:
        sessions.mark_reauthenticated(record)


def confirm_url(next_path: str) -> str:
    return url_for("mfa.confirm", next=next_path)


def fresh_auth_required(own_check: str | None = None,
                        back: str | Callable[..., str] = "accounts.security") -> Callable[[F], F]:
    """Run the view only in a fresh session (or with its own password field, see above).

    ``back`` is the page a stale POST returns to after the confirmation: a form post cannot be
    replayed, so the person lands on the form again. An endpoint name, or a function of the
    view's arguments that returns the page's path (for forms on a page with its own id)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if is_fresh():
                return view(*args, **kwargs)
            if own_check is not None and (request.method == "GET" or own_check in request.form):
                return view(*args, **kwargs)
            if request.method == "GET":
                target = request.full_path.rstrip("?")
            else:
                target = back(**kwargs) if callable(back) else url_for(back)
            return redirect(confirm_url(target), 303)

        return cast(F, wrapped)

    return decorate
