"""Logging that never writes passwords, tokens, session ids or cookies.

One filter serves the app's own logs, Werkzeug's request log and gunicorn's access log: it
rewrites each record's final text, so no format string or argument can smuggle a secret out.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# Routes whose next path segment is a secret: /confirm/, /account/email/confirm/,
# /reset-password/, /newsletter/unsubscribe/. Whatever follows them is redacted, however it is
# spelled: a token behind "%20", a tab or a quote is as secret as a bare one, and shape-based
# patterns cannot know where such a token starts.
TOKEN_ROUTE_WORDS = ("confirm", "reset-password", "unsubscribe")


def _spelled(word: str) -> str:
    """A pattern for ``word`` with any character literal or percent-encoded (once or twice)."""
    return "".join(f"(?:{re.escape(ch)}|%(?:25)?{ord(ch):02x})" for ch in word)


_SEPARATOR = r"(?:[/\\]|%(?:25)?(?:2f|5c))"
# The end of the path in a request-log line, which then ends the text: gunicorn's
# ``"GET /path" 400 182 3ms`` and Werkzeug's ``"GET /path HTTP/1.1" 400 -``. Only digits may
# follow the status, so a path cannot fake an end ('/confirm/x" 200 <token>'); without such an
# end, everything after the route is redacted.
_REQUEST_END = r'(?=(?:\s+HTTP/\d(?:\.\d)?)?"\s+\d{3}(?:\s+(?:\d+|-))?(?:\s+\d+ms)?\s*\Z)'
_TOKEN_ROUTE = re.compile(
    # No exemption even for the /confirm/resend form: any "this part is safe" rule is a place to
    # hide a token behind ('/confirm/resend" 200 <token>').
    rf"(?is)({_SEPARATOR}+(?:{'|'.join(_spelled(w) for w in TOKEN_ROUTE_WORDS)}){_SEPARATOR}+)"
    rf"(?:.+{_REQUEST_END}|.+)"
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (_TOKEN_ROUTE, r"\1" + REDACTED),
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
