"""New-password rules after NIST SP 800-63B and OWASP ASVS: length, not composition.

At least 12 characters, at most 1024, every printable Unicode character allowed, and a check
against common and guessable passwords (zxcvbn's frequency lists) with the reason given.
"""

from __future__ import annotations

import unicodedata

from flask_babel import get_locale

from portal.translate import gettext as _

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_SCORE = 3  # zxcvbn: "safely unguessable: moderate protection from offline slow-hash scenario"
_ESTIMATOR_LIMIT = 100  # zxcvbn's cost grows fast with length


def password_problem(password: str, user_inputs: list[str] | None = None) -> str | None:
    """Return why ``password`` is not acceptable, or None when it is."""
    if not isinstance(password, str):
        return _("Please enter a password.")
    length = len(unicodedata.normalize("NFKC", password))
    if length < MIN_LENGTH:
        return _("Use at least %(num)d characters; a few unrelated words make a good password.", num=MIN_LENGTH)
    if length > MAX_LENGTH:
        return _("Use at most %(num)d characters.", num=MAX_LENGTH)
    for ch in password:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co", "Cn") and ch not in " ":
            return _("The password contains a control or unassigned character; please use printable characters only.")
    # Imported here: its frequency lists take about 12 MB, and only password forms need them.
    from zxcvbn import zxcvbn

    inputs = [value for value in (user_inputs or []) if value]
    # The first 100 characters decide: a long password whose start is guessable is still weak.
    result = zxcvbn(password[:_ESTIMATOR_LIMIT], user_inputs=inputs, max_length=_ESTIMATOR_LIMIT)
    if result["score"] < MIN_SCORE:
        if not str(get_locale() or "en").startswith("en"):
            # zxcvbn's feedback is English only.
            return _("This password is too easy to guess. Try a longer phrase of unrelated words.")
        warning = result["feedback"].get("warning") or "This password is too easy to guess."
        suggestions = " ".join(result["feedback"].get("suggestions") or [])
        return f"{warning} {suggestions}".strip() + " Try a longer phrase of unrelated words."
    return None
