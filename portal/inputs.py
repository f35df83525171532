"""Parsing of ids that arrive in forms and URLs, strictly.

``int()`` is far more forgiving than a form should be: it strips Unicode whitespace (" 7",
"7\u3000", "\u20287"), reads other scripts' digits ("\u0661" is 1) and underscores ("1_0"), and
raises on whitespace alone. A value is an id only if it is what our own pages write: 1-9 ASCII
digits, nothing around them.
"""

from __future__ import annotations

import re

# \A...\Z, not ^...$: "$" also matches before a trailing newline. [0-9], not \d: \d is Unicode.
_ID = re.compile(r"\A[0-9]{1,9}\Z")


def record_id(raw: object) -> int | None:
    """The database id written in ``raw``, or None when it is anything else."""
    if not isinstance(raw, str) or not _ID.match(raw):
        return None
    return int(raw)
