"""An https client of the tests' own: a visitor from a loopback address of its choosing."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.helpers import CSRF


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Client:
    """A visitor from ``source`` (a loopback address of its own, so nginx sees a distinct client)."""

    port: int
    ca: Path | None
    source: str = "127.0.0.1"
    host: str = "localhost"
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookie_headers: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, timeout: float = 20) -> Response:
        conn: http.client.HTTPConnection
        if self.ca is None:  # plain http, straight to one gunicorn
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout, source_address=(self.source, 0))
        else:
            context = ssl.create_default_context(cafile=str(self.ca))
            conn = http.client.HTTPSConnection(self.host, self.port, context=context, timeout=timeout,
                                               source_address=(self.source, 0))
        sent = {"Host": f"{self.host}:{self.port}", "User-Agent": "portal-production-test"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            response = Response(raw.status, raw.getheaders(), raw.read().decode("utf-8", "replace"))
        finally:
            conn.close()
        for value in response.all("Set-Cookie"):
            self.set_cookie_headers.append(value)
            jar: SimpleCookie = SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def csrf(self, path: str) -> str:
        page = self.get(path)
        match = CSRF.search(page.body)
        assert match, f"no CSRF token on {path} ({page.status})"
        return match.group(1) or match.group(2)

    def post_form(self, path: str, data: Mapping[str, str], token_from: str | None = None,
                  headers: Mapping[str, str] | None = None) -> Response:
        form = dict(data)
        if "csrf_token" not in form:
            form["csrf_token"] = self.csrf(token_from or path)
        origin = f"{'http' if self.ca is None else 'https'}://{self.host}:{self.port}"
        sent = {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"{origin}{token_from or path}",
                "Origin": origin}
        sent.update(headers or {})
        return self.request("POST", path, body=urlencode(form).encode(), headers=sent)
