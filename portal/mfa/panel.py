"""What the security page shows about a person's second factors, in two plain reads.

The panel only displays these rows: no ORM objects (the passkeys' keys and credential ids stay
in the database), and statements built once, since building one costs more than running it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select

from portal.db import read
from portal.mfa.models import Authenticator, Passkey, RecoveryCode

_KEYS = Passkey.__table__.c
_APPS = Authenticator.__table__.c
_CODES = RecoveryCode.__table__.c

_PASSKEYS = (select(_KEYS.id, _KEYS.name, _KEYS.created_at, _KEYS.last_used_at, _KEYS.backup_eligible)
             .where(_KEYS.user_id == bindparam("user_id")).order_by(_KEYS.created_at))
# One row whatever exists: whether a confirmed authenticator app is set up, and the unused
# recovery codes (counted on every view: cheaper than a third statement when there is a factor).
_STATE = select(
    select(func.count()).where(_APPS.user_id == bindparam("user_id"), _APPS.confirmed_at.is_not(None))
    .scalar_subquery().label("authenticators"),
    select(func.count()).where(_CODES.user_id == bindparam("user_id"), _CODES.used_at.is_(None))
    .scalar_subquery().label("recovery_left"),
)


def overview(user_id: int) -> dict[str, Any]:
    params = {"user_id": user_id}
    keys = list(read(_PASSKEYS, params))
    state = read(_STATE, params).one()
    authenticator = bool(state.authenticators)
    has_factor = bool(keys) or authenticator
    return {
        "passkeys": keys,
        "authenticator": authenticator,
        "recovery_left": int(state.recovery_left) if has_factor else 0,
        "has_factor": has_factor,
    }
