"""Logging that never writes passwords, tokens, session ids or cookies.

One filter serves the app's own logs, Werkzeug's request log and gunicorn's access log: it
rewrites each record's final text, so no format string or argument can smuggle a secret out.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # key=value and key: value for secret-bearing names (form bodies, query strings, headers).
    (
        re.compile(
            # Any name ending in a secret-bearing word: portal_sid, __Host-sid, remember_token, ...
            r"(?i)(?<![\w-])([\w-]*(?:password|passwd|csrf_token|token|secret|"
            r"session|sid|authorization|cookie|api_key))(\s*[=:]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"
        ),
        r"\1\2" + REDACTED,
    ),
    # Secrets carried in a URL path: signed tokens are long runs of the URL-safe alphabet.
    # (A compressed itsdangerous payload starts with "." itself.)
    (re.compile(r"(/)\.?[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-.]{16,}"), r"\1" + REDACTED),
    (re.compile(r"(/)[A-Za-z0-9_\-]{32,}(?=[/?\s\"']|$)"), r"\1" + REDACTED),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "portal_unredacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is still logged, just not expanded
            message = str(record.msg)
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_filter(*logger_names: str) -> None:
    """Attach the filter to every handler of the given loggers (and of the root logger)."""
    names = ("", *logger_names)
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    install_filter("werkzeug", "gunicorn.error", "gunicorn.access", "portal")
