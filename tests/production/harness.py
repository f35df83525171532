"""The production-shaped environment: real nginx, two gunicorn hosts, PostgreSQL, Redis, SMTP.

nginx terminates TLS on 127.0.0.1 with a certificate signed by a CA made here and proxies to two
gunicorn instances, each in a network namespace of its own, joined to the root namespace by a
veth and a bridge (tests/production/network.py; loopback addresses where namespaces cannot be
made). nginx connects from the bridge's proxy address, the portals' only TRUSTED_PROXIES. Both
hosts share a PostgreSQL server of the environment's own (tests/production/postgres.py: a test
may restart it), a redis-server of its own and one SMTP sink, all reached over that network.
nginx and gunicorn are started from the files under ``deploy/``, rendered with
``deploy/render.py``: what is tested is shipped.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from shutil import which
from typing import Any

from tests.helpers import SMTPSink
from tests.production import network, postgres
from tests.production.certs import Certificates, make_certificates
from tests.production.client import Client
from tests.production.network import Network
from tests.production.postgres import OwnPostgres
from tests.production.units import (
    DEPLOY,
    ROOT,
    VENV,
    Process,
    UnitCommand,
    base_environ,
    free_port_on,
    need,
    render,
    spawn,
    stop_all,
    unit_command,
    wait_until,
    write_env_file,
)

NGINX = "/usr/sbin/nginx"
METRICS_TOKEN = "metrics-" + secrets.token_urlsafe(24)
LOGIN_LIMIT = 5
HOST_NAMES = ("host1", "host2")


# --- the environment -------------------------------------------------------------------------

@dataclass
class Host:
    """One portal host: gunicorn and its operator's commands, run inside the host's namespace."""

    name: str
    index: int
    network: Network
    address: str
    port: int
    folder: Path
    env_file: Path
    web: Process | None = None
    workers: list[Process] = field(default_factory=list)

    @property
    def bind(self) -> str:
        return f"{self.address}:{self.port}"

    def values(self) -> dict[str, str]:
        return {"ROOT": str(ROOT), "VENV": str(VENV), "ENV_FILE": str(self.env_file),
                "USER": pwd.getpwuid(os.getuid()).pw_name, "BIND": self.bind}

    def unit(self, name: str) -> UnitCommand:
        """What systemd would run for ``name`` on this host: in its namespace, when it has one."""
        values = self.values()
        if name != "portal-web.service":
            values.pop("BIND")
        command = unit_command(name, values, self.folder / "run")
        return UnitCommand(self.network.wrap(self.index, command.argv), command.cwd, command.env)

    def command(self, *argv: str) -> UnitCommand:
        """Any command with this host's settings, where its units run (the operator's shell on it)."""
        unit = self.unit("portal-mail.service")  # any unit: the same settings, one host's files
        return UnitCommand(self.network.wrap(self.index, argv), unit.cwd, unit.env)

    def run(self, *argv: str, timeout: float = 120, check: bool = True,
            extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = self.command(*argv)
        env = base_environ()
        env.update(command.env)
        env.update(extra_env or {})
        result = subprocess.run(command.argv, cwd=command.cwd, env=env, capture_output=True, text=True,
                                timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} on {self.name} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        command = self.command(*argv)
        env = base_environ()
        env.update(command.env)
        return subprocess.Popen(command.argv, cwd=command.cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)

    def direct(self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5) -> tuple[int, str]:
        """A request straight to this host's gunicorn, from the root namespace (as Prometheus scrapes)."""
        conn = http.client.HTTPConnection(self.address, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=dict(headers or {}))
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def start_web(self, wait: bool = True) -> None:
        command = self.unit("portal-web.service")
        (self.folder / "run").mkdir(parents=True, exist_ok=True)
        self.web = spawn(f"{self.name}-web", command, self.folder / "gunicorn.log")
        if wait:
            self.wait_web()

    def wait_web(self) -> None:
        wait_until(lambda: self._healthy(), 90, f"{self.name} to answer /healthz")

    def _healthy(self) -> bool:
        assert self.web is not None
        if not self.web.alive():
            raise AssertionError(f"{self.name}'s gunicorn exited:\n{self.web.text()[-3000:]}")
        try:
            return self.direct("/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    def web_pids(self) -> list[int]:
        """gunicorn's master and its workers, by pid: the same list before and after means no restart."""
        assert self.web is not None
        master = self.web.popen.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [master, *sorted(int(pid) for pid in children)]

    def kill(self) -> None:
        """SIGKILL the whole gunicorn (master and workers): the host is gone, mid-request or not."""
        assert self.web is not None
        self.web.signal_group(signal.SIGKILL)
        self.web.popen.wait(timeout=10)

    def start_mail_worker(self) -> Process:
        process = spawn(f"{self.name}-mail", self.unit("portal-mail.service"),
                        self.folder / f"mail-{len(self.workers)}.log")
        self.workers.append(process)
        return process

    def flask(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(VENV / "bin" / "flask"), "--app", "wsgi", *args, timeout=timeout, check=check)


class OwnRedisServer:
    """redis-server on 127.0.0.1 (the test's redis-cli) and ``address`` (where the hosts reach it)."""

    def __init__(self, folder: Path, address: str) -> None:
        self.port = free_port_on("127.0.0.1")
        self.address = address
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.address}:{self.port}/0"

    def start(self) -> None:
        binary = which("redis-server")
        assert binary
        log = (self.folder / "redis.log").open("ab")
        try:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", *dict.fromkeys(["127.0.0.1", self.address]),
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder),
                 # Off, or Redis answers only loopback: the bind list (loopback and the hosts'
                 # bridge) is the boundary here; on a LAN, a password (requirepass) is.
                 "--protected-mode", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        wait_until(self._pong, 10, "redis-server")

    def _pong(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


class Nginx:
    def __init__(self, folder: Path, certs: Certificates, hosts: list[Host], proxy_source: str) -> None:
        self.folder = folder
        self.port = free_port_on("127.0.0.1")
        self.http_port = free_port_on("127.0.0.1")
        self.access_log = folder / "access.log"
        upstreams = "\n".join(f"server {h.bind} max_fails=1 fail_timeout=10s;" for h in hosts)
        site = render((DEPLOY / "nginx" / "portal.conf").read_text(), {
            "SERVER_NAME": "localhost", "HTTPS_LISTEN": f"127.0.0.1:{self.port}",
            "HTTP_LISTEN": f"127.0.0.1:{self.http_port}", "CERT": str(certs.cert), "KEY": str(certs.key),
            "UPSTREAMS": upstreams, "PROXY_SOURCE": proxy_source, "ACCESS_LOG": str(self.access_log),
        })
        (folder / "sites").mkdir(parents=True, exist_ok=True)
        (folder / "sites" / "portal.conf").write_text(site)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
        # The main file is the test's (Debian's /etc/nginx/nginx.conf plays this part on a host);
        # the site is deploy/nginx/portal.conf as shipped.
        (folder / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    include {folder}/sites/*.conf;
}}
""")
        self.process: Process | None = None

    def command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"), *extra]

    def start(self) -> None:
        check = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30, check=False)
        assert check.returncode == 0, check.stderr
        self.process = spawn("nginx", UnitCommand(self.command("-g", "daemon off;"), str(self.folder), {}),
                             self.folder / "nginx.out")
        wait_until(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() or True, 15,
                   "nginx to listen")

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def log_lines(self, start: int = 0) -> list[str]:
        if not self.access_log.exists():
            return []
        return self.access_log.read_text(errors="replace").splitlines()[start:]

    def upstreams_of(self, lines: list[str], method: str, path_prefix: str) -> list[str]:
        found = []
        for line in lines:
            match = re.search(r'"(\w+) (\S+)" (\d{3}) \d+ upstream=(\S+)', line)
            if match and match.group(1) == method and match.group(2).startswith(path_prefix):
                found.append(match.group(4))
        return found


@dataclass
class Environment:
    folder: Path
    certs: Certificates
    network: Network
    pg: OwnPostgres
    db_url: str
    redis: OwnRedisServer
    smtp: SMTPSink
    hosts: list[Host]
    nginx: Nginx
    prefix: str

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.nginx.port}"

    def client(self, source: str = "127.0.0.1") -> Client:
        return Client(self.nginx.port, self.certs.ca, source)

    def upstream_addresses(self) -> set[str]:
        return {h.bind for h in self.hosts}

    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.pg.url("127.0.0.1", "postgresql"), autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(query, params)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description else []


def settings_for(host_folder: Path, *, net: Network, db_url: str, redis_url: str, base_url: str, smtp_port: int,
                 prefix: str) -> dict[str, object]:
    return {
        "PORTAL_ENV": "production",
        "PORTAL_SECRET_KEY": "prod-shape-" + "k" * 40,
        "PORTAL_BASE_URL": base_url,
        "PORTAL_DATABASE_URL": db_url,
        "PORTAL_RATELIMIT_STORAGE_URI": redis_url,
        "PORTAL_RATELIMIT_KEY_PREFIX": prefix,
        "PORTAL_TRUSTED_PROXY_COUNT": 1,
        # nginx's address as the host sees it: the bridge's proxy address (or 127.0.0.10).
        "PORTAL_TRUSTED_PROXIES": net.proxy_address,
        "PORTAL_INSTANCE_PATH": str(host_folder / "instance"),
        "PORTAL_MAIL_SERVER": net.service_address,
        "PORTAL_MAIL_PORT": smtp_port,
        "PORTAL_MAIL_TIMEOUT": 5,
        "PORTAL_MAIL_POLL_INTERVAL": 1.0,  # the environment idles through the rest of the suite: poll gently
        "PORTAL_MAIL_RETRY_BASE": 0.2,
        "PORTAL_MAIL_RETRY_MAX_DELAY": 2,
        "PORTAL_BCRYPT_ROUNDS": 4,
        "PORTAL_LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
        "PORTAL_SIGNUP_RATE_LIMIT": "1000 per hour",
        "PORTAL_DPO_EMAIL": "dpo@example.org",
        "PORTAL_GA_MEASUREMENT_ID": "G-TEST123",  # an optional service, so there is a consent to give
        "PORTAL_METRICS_TOKEN": METRICS_TOKEN,
        "PORTAL_WORKERS": 2,
        "PORTAL_THREADS": 4,
        "PORTAL_CONTROL_SOCKET": "none",
        "PORTAL_LOG_LEVEL": "INFO",
    }


def check_prerequisites() -> None:
    need(os.access(NGINX, os.X_OK), f"{NGINX} is not installed (apt-get install nginx)")
    need(which("redis-server"), "redis-server is not installed")
    reason = postgres.unavailable()
    need(reason is None, f"the production shape runs a PostgreSQL server of its own: {reason}")


def start_smtp_sink(address: str) -> SMTPSink:
    """tests.helpers' sink, listening where the hosts reach it rather than on 127.0.0.1 only."""
    from aiosmtpd.controller import Controller

    sink = SMTPSink()
    unused = sink.controller
    unused.loop.close()  # never started: its event loop would be left open
    sink.controller = Controller(unused.handler, hostname=address, port=sink.port)
    sink.start()
    return sink


@contextlib.contextmanager
def production_environment(folder: Path) -> Iterator[Environment]:
    check_prerequisites()
    folder.mkdir(parents=True, exist_ok=True)
    stack = contextlib.ExitStack()
    with stack:
        postgres.remove_leftovers()  # a crashed run's server and folder
        net = stack.enter_context(network.host_network(len(HOST_NAMES)))
        if not net.namespaced:
            print(f"\nproduction shape: hosts on loopback addresses, not network namespaces: {net.reason}",
                  file=sys.stderr)
        pg = OwnPostgres([net.service_address], trusted_subnet=net.subnet)
        stack.callback(pg.remove)
        pg.start()
        pg.create_database()
        db_url = pg.url(net.service_address)
        redis = OwnRedisServer(folder, net.service_address)
        redis.start()
        stack.callback(redis.stop)
        smtp = start_smtp_sink(net.service_address)
        stack.callback(smtp.stop)
        certs = make_certificates(folder)
        hosts = []
        for i, name in enumerate(HOST_NAMES):
            host_folder = folder / name
            (host_folder / "instance").mkdir(parents=True)
            hosts.append(Host(name, i, net, net.host_addresses[i], net.host_port(i), host_folder,
                              host_folder / "portal.env"))
        nginx = Nginx(folder / "nginx", certs, hosts, net.proxy_address)
        prefix = f"prod{uuid.uuid4().hex[:8]}"
        for host in hosts:
            write_env_file(host.env_file, settings_for(
                host.folder, net=net, db_url=db_url, redis_url=redis.url,
                base_url=f"https://localhost:{nginx.port}", smtp_port=smtp.port, prefix=prefix))
        hosts[0].flask("db", "upgrade")
        stack.callback(lambda: stop_all([p for h in hosts for p in (h.web, *h.workers) if p is not None]))
        for host in hosts:  # both at once: each takes seconds to import the app
            host.start_web(wait=False)
        for host in hosts:
            host.wait_web()
        nginx.start()
        stack.callback(nginx.stop)
        yield Environment(folder, certs, net, pg, db_url, redis, smtp, hosts, nginx, prefix)
