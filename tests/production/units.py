"""The files under deploy/ as the production shape runs them: systemd units without systemd.

``unit_command`` reads what systemd would run for a unit (ExecStart, WorkingDirectory,
Environment=, EnvironmentFile=; User= is left to systemd), ``spawn`` starts it in a process group
of its own, ``need`` skips — or fails where PORTAL_TEST_REQUIRE_PRODUCTION=1 — when a piece is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV = Path(sys.executable).parent.parent
REQUIRE = "PORTAL_TEST_REQUIRE_PRODUCTION"



def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

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


def stop_all(processes: list[Process], timeout: float = 20) -> None:
    """Stop several at once: each gunicorn takes seconds to wind down its threads."""
    for process in processes:
        if process.alive():
            process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.stop(timeout=max(0.1, deadline - time.monotonic()))


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
