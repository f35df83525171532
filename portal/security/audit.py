"""The core's lines in ``flask privacy audit``: Secure cookies, and every resource self-served."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app

from portal import audit
from portal.audit import Result, setting


def check_secure_cookies() -> Result:
    name = "secure-cookies"
    if setting("ENV") != "production":
        return Result(name, False, f"ENV={setting('ENV')}: cookies are not Secure outside production")
    if not setting("SESSION_COOKIE_SECURE"):
        return Result(name, False, "SESSION_COOKIE_SECURE is off in production")
    return Result(name, True, "production: session and login cookies are Secure (__Host- prefixed)")


EXTERNAL = r"""(?:https?:)?//[^\s"'<>)]+"""
RESOURCE_PATTERNS = (
    re.compile(r"""\bsrc\s*=\s*["']?(""" + EXTERNAL + ")", re.I),
    re.compile(r"""\bsrcset\s*=\s*["']?(""" + EXTERNAL + ")", re.I),
    re.compile(r"""@import\s+(?:url\()?\s*["']?(""" + EXTERNAL + ")", re.I),
    re.compile(r"""url\(\s*["']?(""" + EXTERNAL + ")", re.I),
)
LINK_TAG = re.compile(r"<link\b[^>]*>", re.I | re.S)
LINK_HREF = re.compile(r"""\bhref\s*=\s*["']?(""" + EXTERNAL + ")", re.I)
LOADING_RELS = re.compile(
    r"""\brel\s*=\s*["']?[^"'>]*\b(stylesheet|preload|modulepreload|preconnect|prefetch|dns-prefetch|icon|manifest)\b""",
    re.I,
)


def template_root() -> Path:
    return Path(current_app.root_path, current_app.template_folder or "templates").resolve()


def external_references(root: Path, own_host: str | None) -> Iterator[tuple[str, str]]:
    """(template path, URL) for every resource a template loads from another host."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in {".html", ".htm", ".txt", ".css", ".svg", ".xml", ".j2"}:
            continue
        relative = path.relative_to(root).as_posix()
        if relative.startswith("consent/"):
            continue  # the consent registry's gated tags live here, rendered only after consent
        text = path.read_text(encoding="utf-8", errors="replace")
        urls = [m.group(1) for pattern in RESOURCE_PATTERNS for m in pattern.finditer(text)]
        for tag in LINK_TAG.findall(text):
            if LOADING_RELS.search(tag):
                urls += [m.group(1) for m in LINK_HREF.finditer(tag)]
        for url in urls:
            host = urlsplit(url if "://" in url else "https:" + url).hostname
            if host and host != own_host:
                yield relative, url


def check_templates_self_served() -> Result:
    own = urlsplit(str(setting("BASE_URL") or "")).hostname
    found = list(external_references(template_root(), own))
    if found:
        shown = ", ".join(f"{path} → {url}" for path, url in found[:5])
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        return Result("self-served-assets", False, f"templates load from other hosts: {shown}{more}")
    return Result("self-served-assets", True, "no template outside consent/ loads a resource from another host")


def init_app(app: Flask) -> None:
    audit.register(app, check_secure_cookies, 130)
    audit.register(app, check_templates_self_served, 140)
