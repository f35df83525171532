"""X-Forwarded-* counts only from a peer in TRUSTED_PROXIES (gunicorn's forwarded_allow_ips rule)."""

from __future__ import annotations

import ipaddress
import os
import runpy
from pathlib import Path

import pytest
from flask import request

from portal.config import ConfigError, resolve_settings
from portal.security.proxies import parse_networks, peer_is_trusted

ROOT = Path(__file__).resolve().parent.parent
XFF = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}


def _seen_ip(app, peer: str) -> str:
    @app.get("/_ip")
    def show_ip() -> str:
        return request.remote_addr or ""

    response = app.test_client().get("/_ip", headers=XFF, environ_base={"REMOTE_ADDR": peer})
    return response.get_data(as_text=True)


@pytest.mark.parametrize("peer", ["203.0.113.50", "10.0.0.1", "::2", "192.168.1.1"])
def test_a_client_reaching_the_app_directly_cannot_pick_its_ip(make_app, peer):
    app = make_app(TRUSTED_PROXY_COUNT=1)  # default TRUSTED_PROXIES: loopback only
    assert _seen_ip(app, peer) == peer


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1"])
def test_the_local_proxy_is_believed_by_default(make_app, peer):
    assert _seen_ip(make_app(TRUSTED_PROXY_COUNT=1), peer) == "203.0.113.9"


def test_cidr_networks_are_accepted(make_app):
    app = make_app(TRUSTED_PROXY_COUNT=1, TRUSTED_PROXIES=["10.0.0.0/8", "fd00::/8"])
    assert _seen_ip(app, "10.20.30.40") == "203.0.113.9"
    app = make_app(TRUSTED_PROXY_COUNT=1, TRUSTED_PROXIES=["10.0.0.0/8", "fd00::/8"])
    assert _seen_ip(app, "127.0.0.1") == "127.0.0.1"  # not in the list any more
    app = make_app(TRUSTED_PROXY_COUNT=1, TRUSTED_PROXIES=["10.0.0.0/8", "fd00::/8"])
    assert _seen_ip(app, "fd12::1") == "203.0.113.9"


def test_an_untrusted_peer_is_what_the_rate_limit_and_login_record_see(make_app, smtp):
    from sqlalchemy import select

    from portal.accounts.models import LoginAttempt
    from tests.accounts_support import db_rows, login, set_ip

    app = make_app(TRUSTED_PROXY_COUNT=1, LOGIN_RATE_LIMIT="2 per minute")
    client = set_ip(app.test_client(), "203.0.113.77")
    statuses = [
        login(client, f"d{i}@example.com", "wrong password", headers={"X-Forwarded-For": f"10.9.9.{i}"}).status_code
        for i in range(3)
    ]
    assert statuses == [400, 400, 429]  # a new X-Forwarded-For each time bought no new budget
    assert {r.ip for r in db_rows(app, select(LoginAttempt.ip))} == {"203.0.113.77"}


def test_peer_matching():
    nets = parse_networks(["127.0.0.1", "::1", "10.0.0.0/8"])
    assert peer_is_trusted("127.0.0.1", nets) and peer_is_trusted("::1", nets)
    assert peer_is_trusted("10.255.0.1", nets) and peer_is_trusted("::ffff:127.0.0.1", nets)
    assert peer_is_trusted("::1%lo", nets)
    for peer in ("127.0.0.2", "11.0.0.1", "::2", "", None, "not-an-ip", "127.0.0.1 ", "x" * 500):
        assert not peer_is_trusted(peer, nets)


def test_setting_defaults_and_forms(tmp_path):
    assert resolve_settings(tmp_path, {}, environ={})["TRUSTED_PROXIES"] == ["127.0.0.1", "::1"]
    env = {"PORTAL_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16"}
    assert resolve_settings(tmp_path, {}, environ=env)["TRUSTED_PROXIES"] == ["10.0.0.1", "192.168.0.0/16"]
    env = {"PORTAL_TRUSTED_PROXIES": '["10.1.2.3/8"]'}  # JSON, host bits forgiven as gunicorn does
    assert resolve_settings(tmp_path, {}, environ=env)["TRUSTED_PROXIES"] == ["10.0.0.0/8"]
    assert resolve_settings(tmp_path, {"TRUSTED_PROXIES": []}, environ={})["TRUSTED_PROXIES"] == []


@pytest.mark.parametrize("value", ["localhost", ["10.0.0.300"], [1], {"a": 1}, 7, ["10.0.0.0/33"], "*"])
def test_malformed_setting_is_a_one_line_config_error(tmp_path, value):
    with pytest.raises(ConfigError, match="PORTAL_TRUSTED_PROXIES"):
        resolve_settings(tmp_path, {"TRUSTED_PROXIES": value}, environ={})


def test_gunicorn_trusts_the_same_peers(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PORTAL_WORKER_PROCESSES", "1")
    monkeypatch.setenv("PORTAL_TRUSTED_PROXIES", "10.0.0.0/8,::1")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # gunicorn's own variable must not widen it
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["forwarded_allow_ips"] == "10.0.0.0/8,::1"
    assert [ipaddress.ip_network(p) for p in conf["forwarded_allow_ips"].split(",")]
    assert os.environ["PORTAL_WORKER_PROCESSES"] == "1"
