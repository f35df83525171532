"""Re-authentication before a destructive staff action: the staff member's own password.

One small function so the passkeys work can swap it for its general fresh-authentication check.
It goes through the accounts throttle, the one gate for every password check (429 when it refuses).
"""

from __future__ import annotations

from typing import Any

from portal.accounts import throttle


def password_confirmed(staff: Any, password: object, ip: str) -> bool:
    return isinstance(password, str) and bool(password) and throttle.password_ok(staff, password, ip)
