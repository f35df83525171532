"""Staff must use a second factor: the gate of every staff page (``portal.staff.access``)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response

from portal.mfa import factors
from portal.translate import gettext as _


def second_factor_gate(user: Any) -> Response | None:
    """None for staff with a passkey or an authenticator app; otherwise a redirect to enrol."""
    if factors.has_second_factor(user):
        return None
    flash(_("Staff pages need a passkey or an authenticator app on your account. Please add one first."), "error")
    return redirect(url_for("accounts.security", _anchor="second-factor"), 303)
