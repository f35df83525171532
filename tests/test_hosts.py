"""The Host check: the answer per host is the one building ``request.url`` gives."""

from __future__ import annotations

from flask import request
from werkzeug.test import EnvironBuilder

from portal.security import hosts

HOSTS = [
    "localhost", "portal.example", "portal.example:8443", "127.0.0.1:5000", "[::1]", "[::1]:8080",
    "xn--n3h.net", "bücher.example", "xn--zz", "a" * 64 + ".example", "portal.example:99999",
    "portal.example:port", "[::1", "::1]", "exa mple", "", "portal.example:",
]


def test_the_check_agrees_with_building_the_whole_url(make_app):
    app = make_app()  # one app for every host: the answer depends on the host, not the store
    for scheme in ("http", "https"):
        for host in HOSTS:
            with app.test_request_context("/some/p%C3%A5th?q=%ff&lang=cs", base_url=f"{scheme}://x",
                                          environ_overrides={"HTTP_HOST": host}):
                try:
                    request.url  # noqa: B018 - what the check stands in for
                    builds = True
                except (UnicodeError, ValueError):
                    builds = False
                assert hosts.usable(request.scheme, request.host) is builds, (scheme, host)
                assert hosts.usable(request.scheme, request.host) is builds, (scheme, host)  # remembered


def _status(app, host):
    # Straight to the WSGI app: the test client itself builds the URL and would raise first.
    environ = EnvironBuilder(path="/").get_environ()
    environ["HTTP_HOST"] = host
    statuses = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    return int(statuses[0].split()[0]), body


def test_a_host_the_url_cannot_be_built_for_is_refused_with_400(make_app):
    app = make_app()
    for host in ("xn--zz", "a" * 64, "xn--zz.example:8443"):
        status, body = _status(app, host)
        assert status == 400, host
        assert b"Traceback" not in body
    assert _status(app, "localhost")[0] == 200


def test_made_up_hosts_do_not_grow_the_memory_past_its_cap(monkeypatch):
    monkeypatch.setattr(hosts, "_USABLE", {})
    for number in range(hosts.USABLE_CAP + 50):
        assert hosts.usable("https", f"h{number}.example")
    assert len(hosts._USABLE) == hosts.USABLE_CAP
    assert hosts.usable("https", "xn--zz") is False  # past the cap: still answered, not kept
