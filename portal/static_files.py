"""Static files: served by WhiteNoise, compressed, and cached for a year where that is safe.

Why this design (rather than WhiteNoise's CompressedManifest storage, which is Django's and needs
a collect step): templates link every file with ``asset()`` (portal.templating), which appends
``?v=<hash of the content>``. A request whose ``v`` is the hash of the file as it is now gets
``public, max-age=31536000, immutable``: the URL changes whenever the content does, so a browser
never has to ask again. Any other request (no ``v``, or an old one after a release) gets
``no-cache`` and revalidates cheaply (ETag / Last-Modified, 304). Compressed copies (gzip, and
Brotli when the module is installed) are written at start-up next to a copy of the files in the
instance folder, atomically, so several workers starting at once and a read-only code tree are
both fine; WhiteNoise picks the best encoding each browser accepts.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from flask import Flask
from whitenoise import WhiteNoise  # type: ignore[import-untyped]

try:
    import brotli  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - pinned in requirements.txt
    brotli = None

YEAR = 31_536_000
IMMUTABLE = f"public, max-age={YEAR}, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = {".css", ".js", ".svg", ".json", ".txt", ".html", ".map", ".xml"}


@lru_cache(maxsize=512)
def _hash(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def content_hash(path: Path) -> str | None:
    """The short content hash of a file (cached until the file changes), or None if it is absent."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _hash(str(path), stat.st_mtime_ns, stat.st_size) if path.is_file() else None


def _write_atomically(target: Path, data: bytes) -> None:
    if target.exists() and target.read_bytes() == data:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(tmp, target)


def build(source: Path, target: Path) -> Path:
    """Copy the static files to ``target`` with their .gz and .br siblings; returns ``target``."""
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        data = path.read_bytes()
        out = target / path.relative_to(source)
        _write_atomically(out, data)
        if path.suffix.lower() not in COMPRESSIBLE:
            continue
        for suffix, packed in ((".gz", gzip.compress(data, 9, mtime=0)),
                               (".br", brotli.compress(data) if brotli else None)):
            if packed is not None and len(packed) < len(data) * 0.95:
                _write_atomically(out.with_name(out.name + suffix), packed)
    return target


class VersionedCaching:
    """WSGI middleware: Cache-Control for /static/ by whether ``?v=`` names the current content."""

    def __init__(self, app: Callable[..., Iterable[bytes]], source: Path, prefix: str = "/static/") -> None:
        self.app, self.source, self.prefix = app, source, prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(self.prefix):
            return self.app(environ, start_response)
        wanted = parse_qs(environ.get("QUERY_STRING", "")).get("v", [""])[0]
        relative = path[len(self.prefix):]
        current = content_hash(self.source / relative) if ".." not in relative.split("/") else None
        policy = IMMUTABLE if wanted and wanted == current else REVALIDATE

        def caching_start_response(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != "cache-control"]
            headers.append(("Cache-Control", policy))
            return start_response(status, headers, *args)

        return self.app(environ, caching_start_response)


def _security_headers(headers: Any, path: str, url: str) -> None:
    headers["X-Content-Type-Options"] = "nosniff"


def init_app(app: Flask) -> None:
    source = Path(app.static_folder or "")
    served = build(source, Path(app.instance_path) / "static")
    noise = WhiteNoise(app.wsgi_app, root=str(served), prefix="static", max_age=None,
                       add_headers_function=_security_headers)
    app.wsgi_app = VersionedCaching(noise, source)  # type: ignore[method-assign]
