"""A throwaway PostgreSQL server of the production environment's own.

The machine's cluster serves the rest of the suite (in parallel, under xdist), so a test that
must restart "the" PostgreSQL restarts this one instead: ``initdb`` into a folder under /tmp,
``pg_ctl start`` on a free port, listening on 127.0.0.1 (the test's own queries) and on the
address the hosts reach the services at (the bridge of tests/production/network.py), with
``trust`` for loopback and that /24 only. initdb refuses to run as root, so as root every
``initdb``/``pg_ctl`` runs as the ``postgres`` OS user (``runuser``), in a folder it owns.

``fsync=off``: a restart (``pg_ctl restart -m fast``) still checkpoints everything committed, so
nothing written before it is lost; only a crash of the machine itself could lose data, and the
folder does not outlive the run anyway.

Folders are named ``ptp<pid>-pg-*``: a run stops and removes those of a crashed run (a dead pid).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.production.units import pid_alive

OS_USER = "postgres"
TMP = Path("/tmp")


def binaries() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


def unavailable() -> str | None:
    if binaries() is None:
        return "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb; apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root, initdb needs an OS user {OS_USER!r} to run as, and there is none"
        if not shutil.which("runuser"):
            return "running as root, initdb needs runuser (util-linux) to run as postgres"
    return None


def _free_port(*addresses: str) -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind((addresses[0], 0))
            port = int(sock.getsockname()[1])
        try:
            for address in addresses[1:]:
                with socket.socket() as sock:
                    sock.bind((address, port))
        except OSError:
            continue
        return port
    raise AssertionError(f"no port free on all of {addresses}")


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], timeout: float = 60) -> str:
    result = subprocess.run(_as_owner(argv), capture_output=True, text=True, timeout=timeout, check=False,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def remove_leftovers() -> list[str]:
    """Stop and remove the servers of crashed runs (folders whose test process is gone)."""
    gone = []
    bin_dir = binaries()
    for folder in TMP.glob("ptp*-pg-*"):
        match = re.match(r"ptp(\d+)-pg-", folder.name)
        if not match or pid_alive(int(match.group(1))):
            continue
        if bin_dir and (folder / "data" / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError, subprocess.SubprocessError):
                _run([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
        gone.append(str(folder))
    return gone


class OwnPostgres:
    """One cluster: ``start``, ``restart`` (fast: sessions are cut), ``stop``, ``remove``."""

    database = "portal"

    def __init__(self, listen: list[str], trusted_subnet: str = "") -> None:
        bin_dir = binaries()
        assert bin_dir, unavailable()
        self.bin = bin_dir
        self.listen = list(dict.fromkeys(["127.0.0.1", *listen]))
        self.port = _free_port(*self.listen)
        self.folder = Path(tempfile.mkdtemp(prefix=f"ptp{os.getpid()}-pg-", dir=TMP))
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OS_USER)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.folder.chmod(0o700)
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        _run([str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "--username=postgres",
              "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"], timeout=120)
        if trusted_subnet:
            # The hosts connect from their namespaces: trust that /24 too, nothing wider.
            # (Appending keeps the file's owner: root writes it, the postgres user reads it.)
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {trusted_subnet} trust\n")

    def _options(self) -> str:
        return " ".join([
            f"-p {self.port}", f"-k {self.folder}", "-c listen_addresses='{}'".format(",".join(self.listen)),
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c shared_buffers=16MB", "-c max_connections=200",
        ])

    def _pg_ctl(self, action: str, *extra: str) -> None:
        _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
              "-o", self._options(), *extra, action], timeout=90)

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """A real server restart: fast shutdown (open sessions are cut, a checkpoint is written),
        then a new postmaster on the same port."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError, subprocess.SubprocessError):
                _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], timeout=60)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def server_pid(self) -> int:
        """The postmaster's pid: a restart changes it."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, address: str, driver: str = "postgresql+psycopg", database: str | None = None) -> str:
        return f"{driver}://postgres@{address}:{self.port}/{database or self.database}"

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("127.0.0.1", "postgresql", "postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
