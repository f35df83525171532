"""Re-authentication before a destructive staff action: the one rule of ``portal.mfa.reauth``.

The action runs in a session verified within REAUTH_SECONDS (``fresh_auth_required`` sends a
stale one to /account/confirm first). A form that carries the staff member's password (erasure)
may confirm it there instead: a correct password counts as the re-authentication and stamps the
session, as on /account/delete. Password checks go through the accounts throttle (429 when it
refuses).
"""

from __future__ import annotations

from typing import Any

from portal.accounts import throttle
from portal.mfa import reauth


def password_confirmed(staff: Any, password: object, ip: str) -> bool:
    """A typed password must be right (and then counts as fresh); no password needs a fresh session."""
    if isinstance(password, str) and password:
        if not throttle.password_ok(staff, password, ip):
            return False
        reauth.mark_fresh()
        return True
    return reauth.is_fresh()
