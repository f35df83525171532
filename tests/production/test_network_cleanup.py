"""The production shape's namespaces, bridge, veths and PostgreSQL folders never outlive a run:
removed when the environment ends however it ends, and found and removed at the start of the next
run when a crashed one left them (their owner's pid is gone)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.production import network, postgres
from tests.production.units import need

pytestmark = pytest.mark.production


def _names() -> set[str]:
    return set(network.namespaces()) | set(network.links())


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def _require_namespaces() -> None:
    reason = network.unavailable()
    if reason and os.environ.get(network.CHOOSE) == "loopback":
        pytest.skip(reason)
    need(reason is None, f"network namespaces are not available: {reason}")


def test_the_network_is_removed_even_when_the_test_inside_fails() -> None:
    _require_namespaces()
    mine = f"{network.PREFIX}{os.getpid()}"
    with pytest.raises(RuntimeError, match="a test failed"), network.host_network() as net:
        assert net.namespaced, net.reason
        made = {n for n in _names() if n.startswith(mine)}
        # Two namespaces, the bridge and the root ends of both veths.
        assert made == {*net.namespaces, f"{mine}b", f"{mine}h1", f"{mine}h2"}, made
        raise RuntimeError("a test failed")
    assert not [n for n in _names() if n.startswith(mine)]


def test_leftovers_of_a_crashed_run_are_removed_and_live_ones_kept() -> None:
    _require_namespaces()
    dead = f"{network.PREFIX}{_dead_pid()}"
    live = f"{network.PREFIX}{os.getppid()}"  # pytest's parent: alive, not ours
    try:
        for owner in (dead, live):
            subprocess.run(["ip", "netns", "add", f"{owner}-host1"], check=True, timeout=30)
            subprocess.run(["ip", "link", "add", f"{owner}b", "type", "bridge"], check=True, timeout=30)
        gone = network.remove_leftovers()
        assert sorted(gone) == sorted([f"{dead}-host1", f"{dead}b"]), gone
        names = _names()
        assert f"{dead}-host1" not in names and f"{dead}b" not in names
        assert f"{live}-host1" in names and f"{live}b" in names
    finally:
        for owner in (dead, live):
            subprocess.run(["ip", "netns", "del", f"{owner}-host1"], capture_output=True, timeout=30, check=False)
            subprocess.run(["ip", "link", "del", f"{owner}b"], capture_output=True, timeout=30, check=False)


def test_postgresql_folders_of_a_crashed_run_are_removed() -> None:
    need(postgres.unavailable() is None, f"no PostgreSQL server to run: {postgres.unavailable()}")
    dead = Path(f"/tmp/ptp{_dead_pid()}-pg-leftover")
    live = Path(f"/tmp/ptp{os.getpid()}-pg-live")
    for folder in (dead, live):
        (folder / "data").mkdir(parents=True, exist_ok=True)
    try:
        assert str(dead) in postgres.remove_leftovers()
        assert not dead.exists() and live.exists()
    finally:
        import shutil

        for folder in (dead, live):
            shutil.rmtree(folder, ignore_errors=True)
