"""Same-site redirects only: every ``next`` and ``Referer`` target passes through here."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def safe_path(target: str | None, default: str = "/") -> str:
    """Return ``target`` if it is a local path on this site, else ``default``."""
    if not target or not isinstance(target, str) or len(target) > 2048:
        return default
    if any(ord(ch) < 32 or ch in "\\" for ch in target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def same_site_referrer(default: str = "/") -> str:
    """The page the visitor came from, if it was one of ours."""
    referrer = request.referrer
    if not referrer:
        return default
    parts = urlsplit(referrer)
    if parts.netloc and parts.netloc != request.host:
        return default
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return safe_path(path, default)
