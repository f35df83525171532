"""The production-shaped environment: real nginx, two gunicorn "hosts", PostgreSQL, Redis, SMTP.

Everything runs on loopback: nginx terminates TLS on 127.0.0.1 with a certificate signed by a CA
made here, and proxies from 127.0.0.10 (its ``proxy_bind``, the portals' only TRUSTED_PROXIES) to
two gunicorn instances on 127.0.0.2 and 127.0.0.3 — two hosts, as far as addresses go. Both share
one PostgreSQL database (created for the run, dropped after it), one redis-server of the
environment's own (so a test may restart it) and one SMTP sink. nginx and gunicorn are started
from the files under ``deploy/``, rendered with ``deploy/render.py``: what is tested is shipped.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import importlib.util
import ipaddress
import json
import os
import pwd
import re
import secrets
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from shutil import which
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.helpers import CSRF, SMTPSink

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV = Path(sys.executable).parent.parent
NGINX = "/usr/sbin/nginx"
REQUIRE = "PORTAL_TEST_REQUIRE_PRODUCTION"
PROXY_SOURCE = "127.0.0.10"
HOST_ADDRESSES = ("127.0.0.2", "127.0.0.3")
METRICS_TOKEN = "metrics-" + secrets.token_urlsafe(24)
LOGIN_LIMIT = 5


def need(condition: object, reason: str) -> None:
    """Skip with ``reason`` when a piece is missing — fail instead where CI requires it."""
    if condition:
        return
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason} (and {REQUIRE}=1)")
    pytest.skip(reason)


def _load_render() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_render", DEPLOY / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_render().render


def free_port_on(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception:  # noqa: S110 - not up yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


# --- certificates ---------------------------------------------------------------------------

@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path
    spki_sha256: str  # base64, for Chromium's --ignore-certificate-errors-spki-list


def make_certificates(folder: Path) -> Certificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key", "")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    paths.key.chmod(0o600)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    paths.spki_sha256 = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    return paths


# --- systemd units, run without systemd -----------------------------------------------------

@dataclass
class UnitCommand:
    argv: list[str]
    cwd: str
    env: dict[str, str]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _specifiers(value: str, runtime: Path) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1) == "%":
            return "%"
        if match.group(1) == "t":
            return str(runtime)
        raise AssertionError(f"unit specifier %{match.group(1)} is not supported by the test harness")

    return re.sub(r"%(.)", one, value)


def unit_command(unit: str, values: Mapping[str, str], runtime: Path) -> UnitCommand:
    """What systemd would run for deploy/systemd/<unit>: ExecStart, WorkingDirectory, Environment=
    and EnvironmentFile= (User= is left to systemd; the test runs as whoever runs it)."""
    text = render((DEPLOY / "systemd" / unit).read_text(), values)
    service: dict[str, list[str]] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            service.setdefault(key.strip(), []).append(value.strip())
    env: dict[str, str] = {}
    for path in service.get("EnvironmentFile", []):
        optional = path.startswith("-")
        file = Path(path.lstrip("-"))
        if optional and not file.exists():
            continue
        for raw in file.read_text().splitlines():
            if raw.strip() and not raw.lstrip().startswith("#"):
                key, _, value = raw.partition("=")
                env[key.strip()] = _unquote(value)
    for entry in service.get("Environment", []):
        for assignment in shlex.split(entry):
            key, _, value = assignment.partition("=")
            env[key] = _specifiers(value, runtime)
    (argv,) = service["ExecStart"]
    return UnitCommand(shlex.split(argv), service["WorkingDirectory"][0], env)


def write_env_file(path: Path, settings: Mapping[str, object]) -> None:
    lines = []
    for key, value in settings.items():
        text = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"{key}={text}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def base_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PROMETHEUS_"))}


# --- processes -------------------------------------------------------------------------------

@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Workers of a killed master may linger a moment: the whole group goes.
        self.signal_group(signal.SIGKILL)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spawn(name: str, command: UnitCommand, log: Path, extra_env: Mapping[str, str] | None = None) -> Process:
    env = base_environ()
    env.update(command.env)
    env.update(extra_env or {})
    handle = log.open("ab")
    try:
        popen = subprocess.Popen(command.argv, cwd=command.cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        handle.close()
    return Process(name, popen, log)


# --- an https client of the test's own --------------------------------------------------------

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


# --- the environment -------------------------------------------------------------------------

@dataclass
class Host:
    name: str
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
        values = self.values()
        if name != "portal-web.service":
            values.pop("BIND")
        return unit_command(name, values, self.folder / "run")

    def direct(self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5) -> tuple[int, str]:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=dict(headers or {}))
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def start_web(self) -> None:
        command = self.unit("portal-web.service")
        (self.folder / "run").mkdir(parents=True, exist_ok=True)
        self.web = spawn(f"{self.name}-web", command, self.folder / "gunicorn.log")
        wait_until(lambda: self._healthy(), 60, f"{self.name} to answer /healthz")

    def _healthy(self) -> bool:
        assert self.web is not None
        if not self.web.alive():
            raise AssertionError(f"{self.name}'s gunicorn exited:\n{self.web.text()[-3000:]}")
        try:
            return self.direct("/healthz", timeout=2)[0] == 200
        except OSError:
            return False

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
        command = self.unit("portal-mail.service")  # any unit: the same settings, one host's files
        env = base_environ()
        env.update(command.env)
        result = subprocess.run([str(VENV / "bin" / "flask"), "--app", "wsgi", *args], cwd=command.cwd, env=env,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                                 f"{result.stderr}")
        return result


class OwnRedisServer:
    def __init__(self, folder: Path) -> None:
        self.port = free_port_on("127.0.0.1")
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = which("redis-server")
        assert binary
        log = (self.folder / "redis.log").open("ab")
        try:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--dir", str(self.folder)],
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
    def __init__(self, folder: Path, certs: Certificates, hosts: list[Host]) -> None:
        self.folder = folder
        self.port = free_port_on("127.0.0.1")
        self.http_port = free_port_on("127.0.0.1")
        self.access_log = folder / "access.log"
        upstreams = "\n".join(f"server {h.bind} max_fails=1 fail_timeout=10s;" for h in hosts)
        site = render((DEPLOY / "nginx" / "portal.conf").read_text(), {
            "SERVER_NAME": "localhost", "HTTPS_LISTEN": f"127.0.0.1:{self.port}",
            "HTTP_LISTEN": f"127.0.0.1:{self.http_port}", "CERT": str(certs.cert), "KEY": str(certs.key),
            "UPSTREAMS": upstreams, "PROXY_SOURCE": PROXY_SOURCE, "ACCESS_LOG": str(self.access_log),
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
    pg_admin: str
    db_name: str
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

        with psycopg.connect(self.pg_admin.rsplit("/", 1)[0] + "/" + self.db_name, autocommit=True) as conn:
            cursor = conn.execute(query, params)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description else []


def settings_for(host_folder: Path, *, db_url: str, redis_url: str, base_url: str, smtp_port: int,
                 prefix: str) -> dict[str, object]:
    return {
        "PORTAL_ENV": "production",
        "PORTAL_SECRET_KEY": "prod-shape-" + "k" * 40,
        "PORTAL_BASE_URL": base_url,
        "PORTAL_DATABASE_URL": db_url,
        "PORTAL_RATELIMIT_STORAGE_URI": redis_url,
        "PORTAL_RATELIMIT_KEY_PREFIX": prefix,
        "PORTAL_TRUSTED_PROXY_COUNT": 1,
        "PORTAL_TRUSTED_PROXIES": PROXY_SOURCE,
        "PORTAL_INSTANCE_PATH": str(host_folder / "instance"),
        "PORTAL_MAIL_SERVER": "127.0.0.1",
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


def check_prerequisites() -> tuple[str, str]:
    need(os.access(NGINX, os.X_OK), f"{NGINX} is not installed (apt-get install nginx)")
    need(which("redis-server"), "redis-server is not installed")
    pg = os.environ.get("PORTAL_TEST_DATABASE_URL")
    need(pg, "PORTAL_TEST_DATABASE_URL is not set: the production shape needs a real PostgreSQL")
    assert pg
    from sqlalchemy.engine import make_url

    admin = make_url(pg).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        import psycopg

        psycopg.connect(admin, connect_timeout=5).close()
    except Exception as error:
        need(False, f"PostgreSQL at PORTAL_TEST_DATABASE_URL does not answer ({type(error).__name__})")
    for address in (*HOST_ADDRESSES, PROXY_SOURCE):
        try:
            free_port_on(address)
        except OSError:
            need(False, f"cannot bind loopback address {address}")
    return pg, admin


@contextlib.contextmanager
def production_environment(folder: Path) -> Iterator[Environment]:
    pg, admin = check_prerequisites()
    import psycopg
    from sqlalchemy.engine import make_url

    folder.mkdir(parents=True, exist_ok=True)
    db_name = f"portal_prod_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    db_url = make_url(pg).set(drivername="postgresql+psycopg", database=db_name).render_as_string(
        hide_password=False)
    stack = contextlib.ExitStack()
    try:
        redis = OwnRedisServer(folder)
        redis.start()
        stack.callback(redis.stop)
        smtp = SMTPSink()
        smtp.start()
        stack.callback(smtp.stop)
        certs = make_certificates(folder)
        hosts = []
        for i, address in enumerate(HOST_ADDRESSES):
            host_folder = folder / f"host{i + 1}"
            (host_folder / "instance").mkdir(parents=True)
            hosts.append(Host(f"host{i + 1}", address, free_port_on(address), host_folder, host_folder / "portal.env"))
        nginx = Nginx(folder / "nginx", certs, hosts)
        prefix = f"prod{uuid.uuid4().hex[:8]}"
        for host in hosts:
            write_env_file(host.env_file, settings_for(
                host.folder, db_url=db_url, redis_url=redis.url, base_url=f"https://localhost:{nginx.port}",
                smtp_port=smtp.port, prefix=prefix))
        hosts[0].flask("db", "upgrade")
        for host in hosts:
            stack.callback(lambda h=host: [p.stop() for p in (h.web, *h.workers) if p is not None])
            host.start_web()
        nginx.start()
        stack.callback(nginx.stop)
        env = Environment(folder, certs, admin, db_name, db_url, redis, smtp, hosts, nginx, prefix)
        yield env
    finally:
        stack.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
