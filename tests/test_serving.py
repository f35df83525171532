"""gunicorn as operators run it: process model, start-up refusals, redacted access log."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def _conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PORTAL_WORKER_PROCESSES", "1")  # the config file sets it; undo afterwards
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_memory_store_means_one_process_with_threads(monkeypatch, tmp_path):
    conf = _conf(monkeypatch, tmp_path)
    assert conf["workers"] == 1 and conf["threads"] > 1
    assert conf["bind"] == "127.0.0.1:8000"
    assert os.environ["PORTAL_WORKER_PROCESSES"] == "1"


def test_shared_store_means_two_per_core_plus_one(monkeypatch, tmp_path):
    conf = _conf(monkeypatch, tmp_path, PORTAL_RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0")
    assert conf["workers"] == 2 * multiprocessing.cpu_count() + 1


def test_bind_and_workers_are_overridable(monkeypatch, tmp_path):
    conf = _conf(monkeypatch, tmp_path, PORTAL_BIND="0.0.0.0:9000", PORTAL_WORKERS="3")
    assert conf["bind"] == "0.0.0.0:9000" and conf["workers"] == 3


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({"PORTAL_INSTANCE_PATH": str(tmp_path), **extra})
    return env


def test_production_refuses_memory_store_under_several_workers(tmp_path):
    env = _env(
        tmp_path,
        PORTAL_ENV="production",
        PORTAL_SECRET_KEY="s" * 48,
        PORTAL_BASE_URL="https://portal.example",
        PORTAL_WORKERS="3",
        PORTAL_BIND=f"127.0.0.1:{free_port()}",
    )
    result = subprocess.run(
        [GUNICORN, "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "PORTAL_RATELIMIT_STORAGE_URI" in result.stderr
    assert "Traceback" not in result.stderr


def _raw(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


def test_gunicorn_serves_and_access_log_hides_tokens(tmp_path):
    port = free_port()
    env = _env(tmp_path, PORTAL_BIND=f"127.0.0.1:{port}")
    subprocess.run([str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "db", "upgrade"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen([GUNICORN, "--config", "gunicorn.conf.py", "wsgi:app"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        # Malformed input only the real server produces: a broken chunked body, hostile hosts.
        assert _raw(port, b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                          b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n"
                          b"zz\r\nabc\r\n0\r\n\r\n") == 400
        for host in (b"xn--zz", b"a" * 64):
            assert _raw(port, b"GET /account HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n") == 400
        token = "eyJ1aWQiOjF9.aBcDeF.c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ"
        # gunicorn logs the decoded path: "%20" arrives in the log as a space before the token.
        for path in (f"/confirm/{token}", f"/login?next=/x&token={token}", f"/reset-password/%20{token}",
                     f"/reset-password/{token}%20", f"/RESET-password//{token}", f"/confirm/%22{token}"):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    text = (tmp_path / "gunicorn.log").read_text()
    assert '"GET /healthz" 200' in text
    assert "/confirm/[redacted]" in text
    assert "aBcDeF" not in text and "c2VjcmV0" not in text
    assert "Traceback" not in text and " 500 " not in text


def _control_socket_of(log_path: Path, server: subprocess.Popen, timeout: float = 30) -> Path:
    """The control socket path the instance announced in its log."""
    import re

    deadline = time.monotonic() + timeout
    while True:
        match = re.search(r"Control socket listening at (\S+)", log_path.read_text())
        if match:
            return Path(match.group(1))
        assert server.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, "no control socket announced"
        time.sleep(0.1)


def _master_pid_behind(path: Path) -> int:
    from gunicorn.ctl.client import ControlClient

    with ControlClient(str(path), timeout=5) as control:
        return int(control.send_command("show stats")["pid"])


@pytest.mark.slow
def test_two_instances_on_one_host_keep_their_own_control_sockets(tmp_path):
    import shutil
    import tempfile

    # gunicorn's default socket lives under $HOME: keep the real one out, and the path short
    # (a Unix socket path has ~107 bytes; pytest's tmp_path under xdist leaves too few).
    home = Path(tempfile.mkdtemp(prefix="ph", dir="/tmp"))
    ports = [free_port(), free_port()]
    servers, logs = [], []
    for i, port in enumerate(ports):
        instance = tmp_path / f"instance{i}"
        env = _env(instance, PORTAL_BIND=f"127.0.0.1:{port}", HOME=str(home))
        env.pop("XDG_RUNTIME_DIR", None)
        log = (tmp_path / f"gunicorn{i}.log").open("w")
        logs.append(log)
        servers.append(subprocess.Popen([GUNICORN, "--config", "gunicorn.conf.py", "wsgi:app"],
                                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        sockets = [_control_socket_of(tmp_path / f"gunicorn{i}.log", server) for i, server in enumerate(servers)]
        assert sockets[0] != sockets[1]
        # Each socket is answered by its own master: neither instance took the other's over.
        assert [_master_pid_behind(path) for path in sockets] == [server.pid for server in servers]
        servers[1].terminate()
        servers[1].wait(timeout=30)
        # Stopping the second removed its own socket only.
        assert not sockets[1].exists()
        assert _master_pid_behind(sockets[0]) == servers[0].pid
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)
        for log in logs:
            log.close()
        shutil.rmtree(home, ignore_errors=True)


def test_the_control_socket_can_be_named_or_switched_off(monkeypatch, tmp_path):
    conf = _conf(monkeypatch, tmp_path, PORTAL_CONTROL_SOCKET="none")
    assert conf["control_socket_disable"] is True
    conf = _conf(monkeypatch, tmp_path, PORTAL_CONTROL_SOCKET=str(tmp_path / "portal.ctl"))
    assert conf["control_socket"] == str(tmp_path / "portal.ctl")
    monkeypatch.delenv("PORTAL_CONTROL_SOCKET")
    monkeypatch.setenv("HOME", "/home/portal")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    conf = _conf(monkeypatch, tmp_path, PORTAL_BIND="unix:/run/" + "very-long-socket-name/" * 8 + "portal.sock")
    assert conf["control_socket"].startswith("/home/portal/.gunicorn/portal-") and not conf["control_socket_disable"]
    assert len(conf["control_socket"]) <= 100 and conf["control_socket"].endswith(".ctl")
    monkeypatch.setenv("HOME", "/h" + "/deep" * 30)
    assert _conf(monkeypatch, tmp_path)["control_socket_disable"] is True  # no room: none rather than shared
