"""The account's language, as plain functions."""

from __future__ import annotations

from typing import Any

from portal.db import write_transaction


def remember(user: Any, code: str) -> None:
    """Keep ``code`` on the account: mail to them is rendered in it from now on."""
    with write_transaction():
        user.language = code
